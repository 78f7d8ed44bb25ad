"""Baton's bottom layer: what every other layer may import (the error family)."""
