//! OS and runtime side of mpquic: batched UDP I/O and the tokio driver (filled in by the io issue).
