//! A set of strings that forgets its oldest entries past a capacity, for what the session
//! remembers about the peer (ufrags seen, retired or ignored): a peer that sends endless new
//! credentials cannot grow the session's memory.

use std::collections::{BTreeSet, VecDeque};

#[derive(Debug, Clone)]
pub(super) struct BoundedSet {
    order: VecDeque<String>,
    set: BTreeSet<String>,
    cap: usize,
}

impl BoundedSet {
    pub(super) fn new(cap: usize) -> Self {
        Self {
            order: VecDeque::new(),
            set: BTreeSet::new(),
            cap: cap.max(1),
        }
    }

    pub(super) fn insert(&mut self, value: String) {
        if self.set.insert(value.clone()) {
            self.order.push_back(value);
            if self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    pub(super) fn contains(&self, value: &str) -> bool {
        self.set.contains(value)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::BoundedSet;

    #[test]
    fn forgets_the_oldest_past_capacity() {
        let mut s = BoundedSet::new(3);
        for v in ["a", "b", "a", "c", "d"] {
            s.insert(v.to_owned());
        }
        assert_eq!(s.len(), 3);
        assert!(!s.contains("a"));
        assert!(s.contains("b") && s.contains("c") && s.contains("d"));
    }
}
