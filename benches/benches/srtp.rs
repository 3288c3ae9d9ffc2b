//! SRTP protect and unprotect of 1200-byte RTP packets with `webrtc-srtp` (the pinned crate our
//! transport uses), for both profiles we negotiate: AES128_CM_HMAC_SHA1_80 and
//! AEAD_AES_128_GCM. `cargo xtask bench` sets these next to `openssl speed` of the same cipher.
//!
//! Run with `cargo bench -p tether-benches --bench srtp` (or `cargo xtask bench`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;

/// Size of one RTP packet (header included) before protection.
const PACKET: usize = 1200;
/// Pre-protected packets cycled through by the unprotect benchmark.
const RING: usize = 1024;

fn context(profile: ProtectionProfile) -> Context {
    let key = vec![0x11; profile.key_len()];
    let salt = vec![0x22; profile.salt_len()];
    Context::new(&key, &salt, profile, None, None).expect("SRTP context")
}

/// A 1200-byte RTP packet: version 2, payload type 96, sequence number `seq`, SSRC 0x1234.
fn rtp_packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0xAB; PACKET];
    p[..12].copy_from_slice(&[0x80, 96, 0, 0, 0, 0, 0, 1, 0, 0, 0x12, 0x34]);
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("srtp");
    group.throughput(Throughput::Bytes(PACKET as u64));
    for (name, profile) in [
        (
            "AES128_CM_HMAC_SHA1_80",
            ProtectionProfile::Aes128CmHmacSha1_80,
        ),
        ("AEAD_AES_128_GCM", ProtectionProfile::AeadAes128Gcm),
    ] {
        // Sanity check outside the measurement: a round trip gives the packet back.
        let mut tx = context(profile);
        let mut rx = context(profile);
        let plain = rtp_packet(7);
        let protected = tx.encrypt_rtp(&plain).expect("protect");
        assert!(protected.len() > PACKET, "the tag was appended");
        assert_eq!(rx.decrypt_rtp(&protected).expect("unprotect"), &plain[..]);

        let mut packet = rtp_packet(0);
        let mut seq = 0u16;
        group.bench_function(BenchmarkId::new("protect", name), |b| {
            b.iter(|| {
                seq = seq.wrapping_add(1);
                packet[2..4].copy_from_slice(&seq.to_be_bytes());
                black_box(tx.encrypt_rtp(black_box(&packet)).expect("protect"))
            })
        });

        let mut tx = context(profile);
        let ring: Vec<_> = (0..RING as u16)
            .map(|s| tx.encrypt_rtp(&rtp_packet(s)).expect("protect"))
            .collect();
        let mut i = 0;
        group.bench_function(BenchmarkId::new("unprotect", name), |b| {
            b.iter(|| {
                i = (i + 1) % RING;
                black_box(rx.decrypt_rtp(black_box(&ring[i])).expect("unprotect"))
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = srtp;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(srtp);
