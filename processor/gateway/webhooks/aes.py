"""AES-256-CBC decryption for platforms that encrypt their callbacks (Feishu, WeCom).

The two platforms differ only in key derivation, IV placement and padding block size, so
one decrypt primitive takes all three; the connectors hold the platform layouts.
Uses ``cryptography`` (already a transitive dependency of the stack).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from processor.gateway.webhooks.base import WebhookPayloadError


def pkcs7_unpad(data: bytes, block_size: int) -> bytes:
    """Strip PKCS#7 padding whose block size is ``block_size`` (16 Feishu, 32 WeCom)."""
    if not data or len(data) % 16:
        raise WebhookPayloadError("encrypted payload has an invalid length")
    pad = data[-1]
    if pad < 1 or pad > block_size or pad > len(data) or data[-pad:] != bytes([pad]) * pad:
        raise WebhookPayloadError("encrypted payload has invalid padding (wrong key?)")
    return data[:-pad]


def aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes, block_size: int) -> bytes:
    """Decrypt and unpad; a wrong key shows up as bad padding, reported as a 400."""
    if not ciphertext or len(ciphertext) % 16:
        raise WebhookPayloadError("encrypted payload has an invalid length")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(ciphertext) + decryptor.finalize()
    return pkcs7_unpad(plain, block_size)
