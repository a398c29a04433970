"""CIDR operands (``{"cidr": "10.0.0.0/24"}``) parsed into integer ranges, AWS's errors."""

from __future__ import annotations

from processor.patterns.errors import PatternError
from processor.patterns.model import CidrRange
from processor.patterns.values import ip_int


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
    ip = ip_int(address)
    if ip is None:
        raise PatternError(f"Nonstandard IP address: {address}", path)
    version, number = ip
    width = 32 if version == 4 else 128
    mask = int(bits)
    if mask >= width:  # event-ruler refuses a full-length mask; so does EventBridge
        raise PatternError(f"IPv{version} mask bits must be < {width}", path)
    host_bits = width - mask
    lo = (number >> host_bits) << host_bits
    return CidrRange(version=version, lo=lo, hi=lo + (1 << host_bits) - 1)
