//! Local simulator.
