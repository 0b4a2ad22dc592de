"""Tests of the security core; they ship with it so a cherry-picked fix brings its regression test."""
