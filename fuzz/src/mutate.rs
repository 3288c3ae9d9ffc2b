//! Input mutations for the stable driver: byte-level (bit flips, inserts, deletes, truncation)
//! and structure-aware enough for text formats (splices and chunks from other seeds, line
//! swaps, interesting numbers), which is what SDP, JSON and candidate lines are.

/// A small, fast, seedable PRNG (xorshift64*); fuzzing needs speed and reproducibility, not
/// cryptographic quality.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that small seeds still give well-mixed states (never 0).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub(crate) fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Bytes that matter to the grammars we fuzz.
const INTERESTING_BYTES: &[u8] = b"\0\x7f\x80\xff\r\n \t:;=,.-/\"'{}[]\\0123456789aAzZ";

/// Numbers that break number parsing and range checks.
const INTERESTING_NUMBERS: &[&[u8]] = &[
    b"0",
    b"-1",
    b"1",
    b"255",
    b"256",
    b"65535",
    b"65536",
    b"2147483647",
    b"4294967295",
    b"4294967296",
    b"18446744073709551616",
    b"99999999999999999999999999999",
    b"1e308",
    b"-0",
    b"",
];

/// Applies one to eight random mutations to `input`, drawing material from `corpus`; the result
/// is at most `max_len` bytes.
pub(crate) fn mutate(input: &mut Vec<u8>, corpus: &[Vec<u8>], rng: &mut Rng, max_len: usize) {
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        mutate_once(input, corpus, rng);
    }
    input.truncate(max_len);
}

fn mutate_once(input: &mut Vec<u8>, corpus: &[Vec<u8>], rng: &mut Rng) {
    let len = input.len();
    match rng.below(11) {
        // Flip one bit.
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        // Overwrite a byte with an interesting or random one.
        1 if len > 0 => {
            let i = rng.below(len);
            input[i] = random_byte(rng);
        }
        // Insert one to a few bytes.
        2 => {
            let at = rng.below(len + 1);
            let count = 1 + rng.below(4);
            for _ in 0..count {
                input.insert(at, random_byte(rng));
            }
        }
        // Delete a range.
        3 if len > 0 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below(16)).min(len);
            input.drain(start..end);
        }
        // Duplicate a range somewhere else (repeated fields, long values).
        4 if len > 0 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below(64)).min(len);
            let chunk = input[start..end].to_vec();
            let at = rng.below(len + 1);
            input.splice(at..at, chunk);
        }
        // Splice: our prefix, another seed's suffix.
        5 if !corpus.is_empty() => {
            let other = &corpus[rng.below(corpus.len())];
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        // Insert a chunk (often a whole line) of another seed: a dictionary of real tokens.
        6 if !corpus.is_empty() => {
            let other = &corpus[rng.below(corpus.len())];
            if !other.is_empty() {
                let chunk = if rng.chance(2) {
                    random_line(other, rng)
                } else {
                    let start = rng.below(other.len());
                    let end = (start + 1 + rng.below(32)).min(other.len());
                    &other[start..end]
                };
                let at = rng.below(len + 1);
                input.splice(at..at, chunk.iter().copied());
            }
        }
        // Truncate.
        7 if len > 0 => input.truncate(rng.below(len)),
        // Swap two lines.
        8 => swap_lines(input, rng),
        // Replace a run of digits (or insert) an interesting number.
        9 => replace_number(input, rng),
        // Drop a whole line.
        10 => drop_line(input, rng),
        // The chosen mutation did not apply (empty input): insert a byte instead.
        _ => {
            let at = rng.below(len + 1);
            input.insert(at, random_byte(rng));
        }
    }
}

fn random_byte(rng: &mut Rng) -> u8 {
    if rng.chance(2) {
        INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())]
    } else {
        rng.next_u64() as u8
    }
}

/// Line start offsets (each line includes its `\n`).
fn line_spans(input: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, b) in input.iter().enumerate() {
        if *b == b'\n' {
            spans.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < input.len() {
        spans.push((start, input.len()));
    }
    spans
}

fn random_line<'a>(input: &'a [u8], rng: &mut Rng) -> &'a [u8] {
    let spans = line_spans(input);
    let (start, end) = spans[rng.below(spans.len())];
    &input[start..end]
}

fn swap_lines(input: &mut Vec<u8>, rng: &mut Rng) {
    let spans = line_spans(input);
    if spans.len() < 2 {
        return;
    }
    let mut lines: Vec<Vec<u8>> = spans.iter().map(|&(s, e)| input[s..e].to_vec()).collect();
    let a = rng.below(lines.len());
    let b = rng.below(lines.len());
    lines.swap(a, b);
    *input = lines.concat();
}

fn drop_line(input: &mut Vec<u8>, rng: &mut Rng) {
    let spans = line_spans(input);
    if spans.is_empty() {
        return;
    }
    let (start, end) = spans[rng.below(spans.len())];
    input.drain(start..end);
}

fn replace_number(input: &mut Vec<u8>, rng: &mut Rng) {
    let number = INTERESTING_NUMBERS[rng.below(INTERESTING_NUMBERS.len())];
    let digits: Vec<usize> = input
        .iter()
        .enumerate()
        .filter(|(_, b)| b.is_ascii_digit())
        .map(|(i, _)| i)
        .collect();
    if digits.is_empty() {
        let at = rng.below(input.len() + 1);
        input.splice(at..at, number.iter().copied());
        return;
    }
    let start = digits[rng.below(digits.len())];
    let end = start
        + input[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
    input.splice(start..end, number.iter().copied());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_respect_max_len_and_are_reproducible() {
        let corpus = vec![
            b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n".to_vec(),
            b"{}".to_vec(),
        ];
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut out = Vec::new();
            for i in 0..2000 {
                let mut input = corpus[i % 2].clone();
                mutate(&mut input, &corpus, &mut rng, 64);
                assert!(input.len() <= 64);
                out.push(input);
            }
            out
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }
}
