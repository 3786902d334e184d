"""The offline demo: synthetic catalog pages and a fake Instagram, served on 127.0.0.1."""
