"""Platform-side encryption for webhook tests (what Feishu and WeCom do before sending)."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def pkcs7_pad(data: bytes, block: int) -> bytes:
    pad = block - len(data) % block
    return data + bytes([pad]) * pad


def aes_cbc_encrypt(key: bytes, iv: bytes, plain: bytes, block: int) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(pkcs7_pad(plain, block)) + encryptor.finalize()


def feishu_encrypt(encrypt_key: str, plain: bytes) -> str:
    """What Feishu sends in ``encrypt`` (the platform side of feishu_decrypt)."""
    key = hashlib.sha256(encrypt_key.encode()).digest()
    iv = os.urandom(16)
    return base64.b64encode(iv + aes_cbc_encrypt(key, iv, plain, 16)).decode()


def wecom_encrypt(encoding_aes_key: str, message: bytes, receive_id: str) -> str:
    """What WeCom sends in ``Encrypt`` / ``echostr`` (the platform side of wecom_decrypt)."""
    key = base64.b64decode(encoding_aes_key + "=")
    plain = os.urandom(16) + len(message).to_bytes(4, "big") + message + receive_id.encode()
    return base64.b64encode(aes_cbc_encrypt(key, key[:16], plain, 32)).decode()
