"""Reports a patient attaches to a request (FLASK_UPLOADS=true): sample files and the form posted with them."""
import io
import time

from PIL import ExifTags, Image

from tests.helpers import PATIENT, form_fields, sign_started

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
EXECUTABLE = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200  # an ELF program's first bytes
LATITUDE = (26.0, 38.0, 24.0)  # Fort Myers


def jpeg_with_location():
    image = Image.new("RGB", (64, 48), (200, 120, 40))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Camera 12"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = LATITUDE
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test file has a location
    return data


def post_request(client, files, **fields):
    """The request form as a browser without JavaScript posts it: multipart, files under `reports`."""
    page = client.get("/request").get_data(as_text=True)
    hidden = form_fields(page)
    hidden["started"] = sign_started(time.time() - 60, client.application.config["SECRET_KEY"])
    data = {**hidden, **PATIENT, **fields}
    data["reports"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post("/request", data=data, content_type="multipart/form-data")
