"""Small sample files for the evidence tests: real image headers and impostors."""

from __future__ import annotations

#: A JPEG start (SOI + APP0 JFIF), padded.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 64
#: A PNG signature and IHDR start, padded.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
#: A RIFF/WEBP header, padded.
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64
#: Not images, whatever their names say.
GIF = b"GIF89a" + b"\x00" * 64
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><script>alert(1)</script>"
PDF = b"%PDF-1.7\n" + b"\x00" * 64
RIFF_WAVE = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64
