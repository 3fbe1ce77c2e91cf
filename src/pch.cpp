// Anchor for the executables' precompiled header target.
