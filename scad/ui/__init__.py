"""The local web view of a home's runs and batches: live pages served on 127.0.0.1
behind a token, reading the same logs every other view reads."""
