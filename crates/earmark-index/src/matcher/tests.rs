//! Tests of the matcher.
use super::*;
