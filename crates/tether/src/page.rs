//! The browser page `tether signal` serves, compiled into the binary.
//!
//! Plain HTML, CSS and JavaScript with no build step (`crates/tether/www/`):
//! - `/` (`index.html`) and `/app.js`: join or create a room, chat, a live timeline of every
//!   state change and candidate, a stats panel (`getStats`), "Restart ICE" and "Hang up";
//! - `/tether-peer.js`: `TetherCall`, the browser peer on its own (signaling protocol v1,
//!   Tether's signal messages, perfect negotiation with the same role rule as
//!   [`polite_by_ids`](crate::polite_by_ids)), usable from other pages;
//! - `/style.css`.

use signaling_ws::EmbeddedFile;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The page's files, for [`ServerConfig::embedded`](signaling_ws::ServerConfig::embedded).
pub static PAGE: &[EmbeddedFile] = &[
    EmbeddedFile {
        path: "/index.html",
        content_type: HTML,
        body: include_bytes!("../www/index.html"),
    },
    EmbeddedFile {
        path: "/app.js",
        content_type: JS,
        body: include_bytes!("../www/app.js"),
    },
    EmbeddedFile {
        path: "/tether-peer.js",
        content_type: JS,
        body: include_bytes!("../www/tether-peer.js"),
    },
    EmbeddedFile {
        path: "/style.css",
        content_type: CSS,
        body: include_bytes!("../www/style.css"),
    },
];
