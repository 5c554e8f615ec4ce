"""Tests of the numnet_ref reference package (a package so that module names do not clash across tests/*)."""
