//! Real network faults between two network namespaces (root; `TETHER_SKIP_PRIVILEGED=1` skips):
//! links taken down, addresses removed, silent blackholes, outages, loss and delay emulated in
//! user space (NFQUEUE), next to Linux TCP on the same path; and partial ICE restarts of one
//! transport whose path dies.

mod faults;
mod lab;
mod netem;
mod partial;
mod tcp;
