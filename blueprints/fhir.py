"""FHIR R4 at /fhir: the guide's Questionnaire (public, read-only), built from content/ once at start-up."""
import json

from flask import Blueprint, abort, current_app

from clinic import fhir

bp = Blueprint("fhir", __name__, url_prefix="/fhir")


@bp.get("/Questionnaire/<questionnaire_id>")
def questionnaire(questionnaire_id):
    if questionnaire_id != fhir.QUESTIONNAIRE_ID:
        abort(404)
    body = current_app.extensions["fhir_questionnaire_json"]
    return current_app.response_class(body, mimetype=fhir.MEDIA_TYPE)


def init_app(app):
    # The content is fixed once loaded, so the JSON is too: built here, served as bytes.
    resource = fhir.build_questionnaire(app.extensions["journey"], app.config["BASE_URL"])
    app.extensions["fhir_questionnaire"] = resource
    app.extensions["fhir_questionnaire_json"] = json.dumps(resource, ensure_ascii=False, indent=2) + "\n"
    app.register_blueprint(bp)
