//! SRTP protect and unprotect of 1200-byte RTP packets with `webrtc-srtp` (the pinned crate our
//! transport uses), for both profiles we negotiate: AES128_CM_HMAC_SHA1_80 and
//! AEAD_AES_128_GCM. `cargo xtask bench` sets these next to `openssl speed` of the same cipher.
//! The cipher webrtc-srtp's AEAD_AES_128_GCM calls, RustCrypto's `aes-gcm` 0.10, is measured
//! alone too ([`CIPHER_ALONE`]: seal/open 1200 bytes in place, no SRTP), to tell the cipher's
//! cost from webrtc-srtp's own per packet.
//!
//! Run with `cargo bench -p tether-benches --bench srtp` (or `cargo xtask bench`).

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;

/// Size of one RTP packet (header included) before protection.
const PACKET: usize = 1200;
/// Pre-protected packets cycled through by the unprotect benchmark.
const RING: usize = 1024;
/// The benchmark id of RustCrypto's AES-128-GCM alone ("protect" = seal, "unprotect" = open).
const CIPHER_ALONE: &str = "RUSTCRYPTO_AES_128_GCM_ALONE";

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
    cipher_alone(&mut group);
    group.finish();
}

/// AES-128-GCM of `aes-gcm` 0.10 (what webrtc-srtp's GCM profile calls) over a 1200-byte buffer,
/// in place, 12 bytes of associated data as an RTP header would be: the cipher's own cost.
fn cipher_alone(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let cipher = Aes128Gcm::new_from_slice(&[0x11; 16]).expect("16-byte key");
    let aad = [0x80u8, 96, 0, 0, 0, 0, 0, 1, 0, 0, 0x12, 0x34];
    let nonce = |seq: u64| {
        let mut n = [0x22u8; 12];
        n[4..].copy_from_slice(&seq.to_be_bytes());
        n
    };
    // Encrypts `buf` in place under packet number `seq`; returns the tag.
    let seal = |seq: u64, buf: &mut [u8]| {
        cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce(seq)), &aad, buf)
            .expect("seal")
    };
    // Sanity check outside the measurement: open(seal(x)) == x.
    let mut buf = vec![0xAB; PACKET - aad.len()];
    let tag = seal(1, &mut buf);
    cipher
        .decrypt_in_place_detached(Nonce::from_slice(&nonce(1)), &aad, &mut buf, &tag)
        .expect("open");
    assert!(buf.iter().all(|b| *b == 0xAB));

    let mut seq = 0u64;
    group.bench_function(BenchmarkId::new("protect", CIPHER_ALONE), |b| {
        b.iter(|| {
            seq += 1;
            black_box(seal(seq, &mut buf))
        })
    });

    let sealed: Vec<(Vec<u8>, Tag)> = (0..RING as u64)
        .map(|s| {
            let mut b = vec![0xAB; PACKET - aad.len()];
            let tag = seal(s, &mut b);
            (b, tag)
        })
        .collect();
    let mut i = 0;
    let mut work = vec![0u8; PACKET - aad.len()];
    group.bench_function(BenchmarkId::new("unprotect", CIPHER_ALONE), |b| {
        b.iter(|| {
            i = (i + 1) % RING;
            let (ciphertext, tag) = &sealed[i];
            work.copy_from_slice(ciphertext);
            cipher
                .decrypt_in_place_detached(
                    Nonce::from_slice(&nonce(i as u64)),
                    &aad,
                    &mut work,
                    tag,
                )
                .expect("open");
            black_box(&work);
        })
    });
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
