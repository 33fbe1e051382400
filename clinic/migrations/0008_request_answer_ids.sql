-- Requests keep what was chosen, not how it was worded (issue 20 A, clinic/request_answers.py): question ids and
-- option values, warning-sign ids, free text, the content version and the language. Labels are rendered when read.
-- Requests saved before this keep their stored text (journey_answers pairs, warning_signs label/tier) and have
-- content_version NULL: staff see them as they were stored, and are told so.
-- JSON {question id: [option values]} of the questions on the patient's path, in path order, or NULL
ALTER TABLE requests ADD COLUMN answer_values TEXT;
-- JSON list of the warning-sign ids among those answers (content/warning_signs.yaml), in content order, or NULL
ALTER TABLE requests ADD COLUMN warning_sign_ids TEXT;
-- JSON {question id: text} of answers typed in the guide (questions without options), or NULL
ALTER TABLE requests ADD COLUMN free_text TEXT;
-- The content version the labels belonged to when the request was saved (clinic/journey/version.py)
ALTER TABLE requests ADD COLUMN content_version TEXT;
-- The language of the guide the patient answered in, a BCP 47 tag ("en"); labels for staff are always English.
-- Not `language` (0006): that is the language the patient wants to be called back in.
ALTER TABLE requests ADD COLUMN answers_language TEXT;
