//! The adversarial isolation suite: two apps, two users each, overlapping data, every
//! interaction tried across every boundary.
