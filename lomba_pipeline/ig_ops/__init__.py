"""Instagram operations for the operated accounts: reply/DM lane (A), morning posts (B), nightly
report (C), with governance (retries, cooldown, approvals, versioned specs, crash safety)."""
