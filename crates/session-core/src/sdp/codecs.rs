//! What Tether can send and receive, and how an answer's codecs are chosen.
