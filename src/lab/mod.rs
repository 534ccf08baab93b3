//! The test lab: tools that put real sockets under bad network conditions.
//! Used by the integration tests, the benchmarks and `propwash demo`.

pub mod impair;
