"""CIDR operands (``{"cidr": "10.0.0.0/24"}``) parsed into integer ranges, AWS's errors."""

from __future__ import annotations

import ipaddress

from processor.patterns.errors import PatternError
from processor.patterns.model import CidrRange


def parse_cidr(text: str, path: str) -> CidrRange:
    """Parse ``address/bits``; host bits may be set, as AWS allows."""
    parts = text.split("/")
    if len(parts) != 2:
        raise PatternError("Malformed CIDR, one '/' required", path)
    address, bits = parts
    if not bits.isdigit() or not bits.isascii():
        if bits.startswith("-") and bits[1:].isdigit():
            raise PatternError("Malformed CIDR, mask bits must not be negative", path)
        raise PatternError("Malformed CIDR, mask bits must be an integer", path)
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        raise PatternError(f"Nonstandard IP address: {address}", path) from None
    width = 32 if addr.version == 4 else 128
    mask = int(bits)
    if mask > width:
        raise PatternError(f"IPv{addr.version} mask bits must be < {width}", path)
    host_bits = width - mask
    lo = (int(addr) >> host_bits) << host_bits
    return CidrRange(version=addr.version, lo=lo, hi=lo + (1 << host_bits) - 1)
