"""Tests for :mod:`crossdino.datasets.converters.common`."""
import struct
import zlib

import pytest

from crossdino.datasets.converters.common import (read_image_size,
                                                  size_or_skip)


def png_header(path, width, height):
    """A PNG whose header declares ``width`` x ``height`` (no pixel data
    worth decoding): enough for a header read."""
    def chunk(kind, data):
        body = kind + data
        return (struct.pack('>I', len(data)) + body +
                struct.pack('>I', zlib.crc32(body) & 0xffffffff))
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) +
                     chunk(b'IEND', b''))


def test_huge_image_header_is_read(tmp_path):
    # 20000 x 20000 (DOTA's largest) is above PIL's 179 Mpx bomb limit,
    # which only matters for decoding
    from PIL import Image
    png_header(tmp_path / 'big.png', 20000, 20000)
    limit = Image.MAX_IMAGE_PIXELS
    assert read_image_size(tmp_path / 'big.png') == (20000, 20000)
    assert Image.MAX_IMAGE_PIXELS == limit  # restored


def test_unreadable_image_is_skipped_counted_and_warned(tmp_path):
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'not an image')
    unreadable = []
    with pytest.warns(UserWarning, match='bad.jpg: unreadable image'):
        assert size_or_skip(bad, 'bad.jpg', unreadable) is None
    assert unreadable == ['bad.jpg']
    png_header(tmp_path / 'ok.png', 7, 5)
    assert size_or_skip(tmp_path / 'ok.png', 'ok.png', unreadable) == (7, 5)
    assert unreadable == ['bad.jpg']
