//! Writes the seed corpora that come from real media (`seeds/{depacketize,rtcp,ivf,ogg,annexb}`):
//! the sample files in `crates/media/samples/`, cut to a few frames, and their RTP packets; and
//! transport-tokio's (`seeds/{demux,dcep,sctp_plane}`), built with its own encoders
//! (`transport_tokio::fuzzing::*_seeds`).
//! Ignored: run it once after changing the samples or the framing, and commit the output:
//! `cargo test --manifest-path fuzz/Cargo.toml --test seeds -- --ignored`.

use std::io::Cursor;
use std::path::Path;

use bytes::Bytes;
use media::packetizer::Packetizer;
use media::{
    CodecKind, Frame, H264Sink, H264Source, IvfSink, IvfSource, MediaSink, MediaSource,
    OggOpusSink, OggOpusSource, PacketizerConfig,
};
use webrtc_util::marshal::Marshal;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = root().join("seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

fn sample(name: &str) -> Bytes {
    Bytes::from(std::fs::read(root().join("../crates/media/samples").join(name)).unwrap())
}

fn frames(mut source: impl MediaSource, n: usize) -> Vec<Frame> {
    (0..n)
        .filter_map(|_| source.next_frame().unwrap())
        .collect()
}

/// The first frames' RTP payloads in the depacketize framing (codec index first).
fn depacketize_seeds(codec: CodecKind, index: u8, frames: &[Frame]) {
    let mut cfg = PacketizerConfig::new(codec, 96, 1);
    cfg.mtu = 400; // several packets per video frame: FU-A, VP8/VP9 continuations
    let mut p = Packetizer::new(cfg).unwrap();
    for (i, frame) in frames.iter().enumerate() {
        let mut frame = frame.clone();
        frame.data = frame.data.slice(..frame.data.len().min(2_000));
        let mut out = vec![index];
        for packet in p.packetize(&frame).unwrap() {
            out.extend_from_slice(&(packet.payload.len() as u16).to_be_bytes());
            out.extend_from_slice(&packet.payload);
        }
        write("depacketize", &format!("{}-{i}.bin", codec.name()), &out);
    }
}

#[test]
#[ignore = "writes seeds/; run by hand"]
fn write_media_seeds() {
    // IVF (VP8, VP9): the first 3 frames, frames cut to 1 kB.
    for (name, codec, index) in [
        ("vp8.ivf", CodecKind::Vp8, 0u8),
        ("vp9.ivf", CodecKind::Vp9, 1),
    ] {
        let fs = frames(IvfSource::new(sample(name)).unwrap(), 3);
        depacketize_seeds(codec, index, &fs);
        let mut sink = IvfSink::new(Cursor::new(Vec::new()), codec, 64, 64, 90_000).unwrap();
        for f in &fs {
            let mut f = f.clone();
            f.data = f.data.slice(..f.data.len().min(1_000));
            sink.write_frame(&f).unwrap();
        }
        sink.finish().unwrap();
        let mut file = vec![0u8];
        file.extend_from_slice(&sink.into_inner().into_inner());
        write("ivf", &format!("{}.ivf", codec.name()), &file);
    }
    // H.264 Annex-B: the first 3 access units, at 30 fps (option byte 30 << 2).
    let fs = frames(H264Source::new(sample("h264.h264"), 30).unwrap(), 3);
    depacketize_seeds(CodecKind::H264, 2, &fs);
    let mut sink = H264Sink::new(Vec::new());
    for f in &fs {
        sink.write_frame(f).unwrap();
    }
    sink.finish().unwrap();
    let mut file = vec![30 << 2];
    file.extend_from_slice(&sink.into_inner());
    write("annexb", "h264.h264", &file);
    // Ogg Opus: the first 5 packets.
    let source = OggOpusSource::new(sample("opus.ogg")).unwrap();
    let channels = source.head().channels;
    let fs = frames(source, 5);
    depacketize_seeds(CodecKind::Opus, 3, &fs[..2]);
    let mut sink = OggOpusSink::new(Vec::new(), channels, 312, 7).unwrap();
    for f in &fs {
        sink.write_frame(f).unwrap();
    }
    sink.finish().unwrap();
    let mut file = vec![0u8];
    file.extend_from_slice(&sink.into_inner());
    write("ogg", "opus.ogg", &file);
}

#[test]
#[ignore = "writes seeds/; run by hand"]
fn write_rtcp_seeds() {
    use rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
    use rtcp::receiver_report::ReceiverReport;
    use rtcp::reception_report::ReceptionReport;
    use rtcp::sender_report::SenderReport;
    use rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
    const SENDER: u32 = 0x1111_1111;
    let rr = ReceiverReport {
        ssrc: 2,
        reports: vec![ReceptionReport {
            ssrc: SENDER,
            fraction_lost: 10,
            total_lost: 3,
            last_sequence_number: 0x1_0002,
            jitter: 40,
            last_sender_report: 0x1234_5678,
            delay: 655,
        }],
        ..Default::default()
    };
    let nack = TransportLayerNack {
        sender_ssrc: 2,
        media_ssrc: SENDER,
        nacks: vec![NackPair {
            packet_id: 0xfffe,
            lost_packets: 0b101,
        }],
    };
    let pli = PictureLossIndication {
        sender_ssrc: 2,
        media_ssrc: SENDER,
    };
    let sr = SenderReport {
        ssrc: 0x2222_2222,
        ntp_time: 0xdead_beef_0000_0001,
        rtp_time: 9000,
        packet_count: 10,
        octet_count: 12_000,
        ..Default::default()
    };
    fn one(p: &impl Marshal) -> Vec<u8> {
        p.marshal().unwrap().to_vec()
    }
    write("rtcp", "rr.bin", &one(&rr));
    write("rtcp", "nack.bin", &one(&nack));
    write("rtcp", "pli.bin", &one(&pli));
    write("rtcp", "sr.bin", &one(&sr));
    let compound = [one(&rr), one(&nack), one(&pli)].concat();
    write("rtcp", "rr-nack-pli.bin", &compound);
}

#[test]
#[ignore = "writes seeds/; run by hand"]
fn write_transport_seeds() {
    use transport_tokio::fuzzing::{dcep_seeds, demux_seeds, sctp_plane_seeds};
    for (target, seeds) in [
        ("dcep", dcep_seeds()),
        ("demux", demux_seeds()),
        ("sctp_plane", sctp_plane_seeds()),
    ] {
        for (name, data) in seeds {
            write(target, &name, &data);
        }
    }
}
