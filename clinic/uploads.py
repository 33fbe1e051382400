"""Reports a patient attaches to a request (FLASK_UPLOADS): checked by content, cleaned, scanned, stored privately.

PDF, JPEG and PNG only, told apart by their first bytes (never by name or the browser's type); images are decoded
and saved again by Pillow, so their metadata (EXIF location, camera, comments) is not kept; PDFs are stored as sent
and only ever served to signed-in staff as downloads. Files live under a folder of the instance (0700, outside
static/) with random names (0600); the database keeps which request each belongs to. No Flask here.
"""
import io
import logging
import os
import secrets
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from clinic.private_files import FILE_MODE, private_folder

MAX_FILES = 3
MAX_BYTES = 10 * 1024 * 1024
# The whole /request body with uploads on: the files and the form's own fields (64 KB) with multipart overhead.
BODY_LIMIT = MAX_FILES * MAX_BYTES + 128 * 1024
MAX_IMAGE_PIXELS = 40_000_000  # a phone photo is about 12 million; more is a decompression bomb, refused
# kind -> (media type, file name ending, words for staff)
KINDS = {"pdf": ("application/pdf", "pdf", "PDF"), "jpeg": ("image/jpeg", "jpg", "JPEG image"),
         "png": ("image/png", "png", "PNG image")}
CLAMD_CHUNK = 64 * 1024
log = logging.getLogger(__name__)


def N_(text):  # noqa: N802 - gettext's name for "mark only"
    """Marks a message for `make translations`."""
    return text


class Message(str):
    """A message for the patient: the English text, carrying its template and values so the Flask layer can word it
    in the page's language (`gettext(message.template, **message.params)`)."""

    def __new__(cls, template, **params):
        text = super().__new__(cls, template % params if params else template)
        text.template, text.params = template, params
        return text


class UploadRefused(ValueError):
    """A file the site will not take; the message is for the patient and names no file content."""


class ScannerUnavailable(RuntimeError):
    """FLASK_CLAMD_SOCKET is set but the daemon did not answer: files are refused, never stored unscanned."""


def sniff(head):
    """'pdf', 'jpeg' or 'png' from a file's first bytes, or None."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    return None


def read_limited(stream, limit=MAX_BYTES):
    """At most limit + 1 bytes of `stream`: enough to know a file is too big without holding more of it."""
    return stream.read(limit + 1)


def check(data, position):
    """The kind of an uploaded file's bytes, or UploadRefused saying why (position: 1, 2, 3 as the patient counts)."""
    if not data:
        raise UploadRefused(Message(N_("File %(num)s is empty: choose the report again"), num=position))
    if len(data) > MAX_BYTES:
        raise UploadRefused(Message(N_("File %(num)s is larger than 10 MB: send a smaller copy, or bring it to your visit"),
                                     num=position))
    kind = sniff(data[:8])
    if kind is None:
        raise UploadRefused(Message(N_("File %(num)s is not a PDF, JPEG or PNG: only those can be sent"), num=position))
    return kind


def clean(kind, data, position):
    """The bytes to store: a PDF as sent; an image decoded and saved again without its metadata."""
    if kind == "pdf":
        return data
    from PIL import Image, ImageOps  # imported only when uploads are on and an image arrives

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != {"jpeg": "JPEG", "png": "PNG"}[kind]:
                raise UploadRefused(Message(N_("File %(num)s is not a PDF, JPEG or PNG: only those can be sent"), num=position))
            image.load()
            upright = ImageOps.exif_transpose(image)  # keep the way the photo was held, then drop the EXIF
            out = io.BytesIO()
            if kind == "jpeg":
                if upright.mode not in ("RGB", "L"):
                    upright = upright.convert("RGB")
                upright.save(out, "JPEG", quality=90, optimize=True)  # no exif=, no icc_profile=: nothing carried over
            else:
                if upright.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
                    upright = upright.convert("RGBA")
                upright.save(out, "PNG", optimize=True)
            return out.getvalue()
    except UploadRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRefused(Message(N_("File %(num)s is too large a picture: send a smaller copy"), num=position)) from None
    except (OSError, ValueError, SyntaxError):  # Pillow's ways of saying the image is broken or truncated
        raise UploadRefused(Message(N_("File %(num)s could not be read as a picture: send it again, or as a PDF"),
                                    num=position)) from None


def scan(socket_path, data, timeout=30):
    """Ask a ClamAV daemon (INSTREAM over its Unix socket). None when clean, the signature's name when found;
    ScannerUnavailable when the daemon cannot be reached or answers something else."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(socket_path)
            conn.sendall(b"zINSTREAM\0")
            for start in range(0, len(data), CLAMD_CHUNK):
                chunk = data[start:start + CLAMD_CHUNK]
                conn.sendall(struct.pack("!L", len(chunk)) + chunk)
            conn.sendall(struct.pack("!L", 0))
            reply = b""
            while not reply.endswith(b"\0"):
                part = conn.recv(4096)
                if not part:
                    break
                reply += part
    except OSError as error:
        raise ScannerUnavailable(f"clamd at {socket_path}: {error.strerror or error}") from None
    answer = reply.rstrip(b"\0").decode("utf-8", "replace")
    if answer.endswith(" OK"):
        return None
    if answer.endswith(" FOUND"):
        return answer.removeprefix("stream: ").removesuffix(" FOUND")
    raise ScannerUnavailable(f"clamd at {socket_path} answered {answer[:80]!r}")


@dataclass(frozen=True)
class Upload:
    """A checked and cleaned file, ready to store."""

    kind: str
    data: bytes

    @property
    def media_type(self):
        return KINDS[self.kind][0]


def prepare(files, *, clamd_socket=None):
    """[(position, bytes)] from the form -> ([Upload], [problem messages]). Nothing is stored here."""
    uploads, problems = [], []
    if len(files) > MAX_FILES:
        return [], [Message(N_("You can send up to %(num)s files: choose %(num)s or fewer"), num=MAX_FILES)]
    for position, data in files:
        try:
            kind = check(data, position)
            cleaned = clean(kind, data, position)
        except UploadRefused as refused:
            problems.append(refused.args[0])
            continue
        if clamd_socket:
            try:
                found = scan(clamd_socket, data)
            except ScannerUnavailable as error:
                log.warning("upload not scanned: %s", error)
                return [], [Message(N_("We could not check your files for viruses just now. Send your request without "
                                       "them, or try again later"))]
            if found:
                log.warning("upload refused: the virus scanner found %s", found)
                problems.append(Message(N_("File %(num)s did not pass our virus check: it was not sent"), num=position))
                continue
        uploads.append(Upload(kind, cleaned))
    return ([] if problems else uploads), problems


class FileStore:
    """Files of requests under one private folder, by random name; the database holds the names."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def save(self, data):
        """Write `data` under a new random name (0600 from creation); returns the name."""
        private_folder(self.folder)
        name = secrets.token_hex(16)
        path = self.folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return name

    def path(self, name):
        if not name or "/" in name or name.startswith("."):
            raise ValueError("not a stored file name")
        return self.folder / name

    def delete(self, names):
        """Remove stored files; a file already gone is fine. Returns how many were removed."""
        removed = 0
        for name in names:
            try:
                self.path(name).unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed
