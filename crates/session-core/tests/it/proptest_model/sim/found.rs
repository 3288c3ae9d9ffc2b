//! Cases the property test found, kept as they were printed (each failed before its fix).

use super::*;

#[test]
fn found_lossy_signaling_transceiver_after_warmup() {
    let case = SimCase {
        seed: 11361964086939800958,
        net: NetProfile::Lossy {
            loss: 0.36866598378791304,
        },
        warmup: true,
        unbundled: false,
        ops: vec![SimOp::AddTransceiver {
            side: PeerId::A,
            video: false,
            dir: Direction::SendRecv,
        }],
        close: None,
    };
    if let Err(e) = run_sim_case(&case) {
        panic!("{e}");
    }
}

#[test]
fn found_partial_restart_of_a_transport_replaced_in_glare() {
    let case = SimCase {
        seed: 0,
        net: NetProfile::Clean,
        warmup: false,
        unbundled: true,
        ops: vec![
            SimOp::AddTransceiver {
                side: PeerId::A,
                video: false,
                dir: Direction::SendRecv,
            },
            SimOp::NegotiatedPair { id: 1000, label: 0 },
            SimOp::Advance { ms: 0 },
            SimOp::RestartIceTransport {
                side: PeerId::A,
                idx: 1,
            },
        ],
        close: None,
    };
    if let Err(e) = run_sim_case(&case) {
        panic!("{e}");
    }
}
