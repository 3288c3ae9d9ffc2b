/// Association statistics
#[derive(Default, Debug, Copy, Clone)]
pub struct AssociationStats {
    n_datas: u64,
    n_sacks: u64,
    n_t3timeouts: u64,
    n_ack_timeouts: u64,
    n_fast_retrans: u64,
    n_fast_recoveries: u64,
    n_duplicate_datas: u64,
    n_recoveries_undone: u64,
}

impl AssociationStats {
    /// Counts one DATA chunk sent.
    pub fn inc_datas(&mut self) {
        self.n_datas += 1;
    }

    /// The number of DATA chunks sent.
    pub fn get_num_datas(&mut self) -> u64 {
        self.n_datas
    }

    /// Counts one SACK chunk received.
    pub fn inc_sacks(&mut self) {
        self.n_sacks += 1;
    }

    /// The number of SACK chunks received.
    pub fn get_num_sacks(&mut self) -> u64 {
        self.n_sacks
    }

    /// Counts one T3-rtx retransmission timeout.
    pub fn inc_t3timeouts(&mut self) {
        self.n_t3timeouts += 1;
    }

    /// The number of T3-rtx retransmission timeouts, a signal of loss or a stalled path.
    pub fn get_num_t3timeouts(&mut self) -> u64 {
        self.n_t3timeouts
    }

    /// Counts one delayed-acknowledgement timeout.
    pub fn inc_ack_timeouts(&mut self) {
        self.n_ack_timeouts += 1;
    }

    /// The number of delayed-acknowledgement timeouts.
    pub fn get_num_ack_timeouts(&mut self) -> u64 {
        self.n_ack_timeouts
    }

    /// Counts one fast retransmission.
    pub fn inc_fast_retrans(&mut self) {
        self.n_fast_retrans += 1;
    }

    /// The number of fast retransmissions, triggered by SACK gap reports rather than a timeout.
    pub fn get_num_fast_retrans(&mut self) -> u64 {
        self.n_fast_retrans
    }

    /// Counts one entry into fast recovery (a congestion window reduction for loss reported by
    /// SACKs). Tether patch.
    pub fn inc_fast_recoveries(&mut self) {
        self.n_fast_recoveries += 1;
    }

    /// The number of entries into fast recovery.
    pub fn get_num_fast_recoveries(&mut self) -> u64 {
        self.n_fast_recoveries
    }

    /// Counts one DATA chunk received that had been received before (a needless
    /// retransmission by the peer, or a lost SACK). Tether patch.
    pub fn inc_duplicate_datas(&mut self) {
        self.n_duplicate_datas += 1;
    }

    /// The number of duplicate DATA chunks received.
    pub fn get_num_duplicate_datas(&mut self) -> u64 {
        self.n_duplicate_datas
    }

    /// Counts one fast recovery undone: the peer reported each of its retransmissions as a
    /// duplicate. Tether patch.
    pub fn inc_recoveries_undone(&mut self) {
        self.n_recoveries_undone += 1;
    }

    /// The number of fast recoveries undone.
    pub fn get_num_recoveries_undone(&mut self) -> u64 {
        self.n_recoveries_undone
    }

    /// Zeroes every counter.
    pub fn reset(&mut self) {
        self.n_datas = 0;
        self.n_sacks = 0;
        self.n_t3timeouts = 0;
        self.n_ack_timeouts = 0;
        self.n_fast_retrans = 0;
        self.n_fast_recoveries = 0;
        self.n_duplicate_datas = 0;
        self.n_recoveries_undone = 0;
    }
}
