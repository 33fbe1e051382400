"""Flagged requests (tests/test_flagged.py, tests/test_flagged_es.py): how patients write a warning sign and
what ordinary descriptions say, and reading a flag back from the staff pages, the CSV and the database."""
import csv
import io
import re

from tests.support import storage


def concepts_in(found):
    return [mention.concept for mention in found]


# How patients really write it: no apostrophes, typos, run-on sentences, shouting. Each must flag its concept.
PATIENT_PHRASINGS = [
    # self-harm
    ("im thinking of killing myself", "self_harm"),
    ("I have been thinking of killing myself", "self_harm"),
    ("i want to hurt myself", "self_harm"),
    ("I feel like ending it all", "self_harm"),
    ("some days i just want to end my life", "self_harm"),
    ("i dont want to live like this anymore", "self_harm"),
    ("honestly my family would be better off without me", "self_harm"),
    ("ive had sucidal thoughts", "self_harm"),
    ("Thinking about suicide a lot lately", "self_harm"),
    ("I took too many pills last night", "self_harm"),
    ("i might overdose on my oxy", "self_harm"),
    ("I wish i was dead", "self_harm"),
    ("i cant go on like this", "self_harm"),
    ("thinking of harming my self", "self_harm"),
    ("sometimes i think everyone would be better off if i was gone", "self_harm"),
    # weakness
    ("my legs are getting weaker", "weakness"),
    ("my foot is dragging", "weakness"),
    ("my left leg keeps giving out on me", "weakness"),
    ("i cant lift my foot up", "weakness"),
    ("Weakness in my right leg since last week", "weakness"),
    ("knee buckled twice today", "weakness"),
    ("i have foot drop now", "weakness"),
    ("my legs keep collapsing under me", "weakness"),
    ("my toes wont lift when i walk", "weakness"),
    # bladder and bowel
    ("i cant pee", "bladder_bowel"),
    ("I can\u2019t urinate since the weekend", "bladder_bowel"),
    ("I wet myself at work", "bladder_bowel"),
    ("i been leaking urine", "bladder_bowel"),
    ("lost control of my bowels", "bladder_bowel"),
    ("trouble peeing and it burns", "bladder_bowel"),
    # saddle area
    ("numb between my legs", "saddle"),
    ("my groin feels numb", "saddle"),
    ("no feeling in my butt cheeks and inner thighs", "saddle"),
    # chest and breathing
    ("I get chest pains", "chest_breathing"),
    ("i cant breathe properly", "chest_breathing"),
    ("cant breath when i lie down", "chest_breathing"),
    ("very short of breath walking to the car", "chest_breathing"),
    ("tightness in my chest", "chest_breathing"),
    # numbness
    ("I CANT FEEL MY LEGS", "numbness"),
    ("my left foot went numb", "numbness"),
    # infection
    ("I have a fever of 101", "infection"),
    ("running a temp since yesterday", "infection"),
    ("temp 38.9 this morning", "infection"),
    ("chills and shaking at night", "infection"),
    ("my neck is stiff and i feel confused", "infection"),
    # wound
    ("my incision is red and hot", "wound"),
    ("there is pus coming out of the cut", "wound"),
    ("the scar is weeping", "wound"),
    ("two stitches came apart", "wound"),
    ("clear fluid is leaking from my back", "wound"),
    # device
    ("the skin around my stimulator is swollen and red", "device"),
    ("my pain pump alarm keeps going off", "device"),
    # calf
    ("my calf is swollen and hurts", "calf"),
    ("pain in my left calf when i walk", "calf"),
    # falls
    ("I fell in the shower on monday", "falls"),
    ("after a fall down the stairs the pain is worse", "falls"),
    ("keep loosing my balance", "falls"),
    # severe pain
    ("severe pain in my lower back", "severe_pain"),
    ("the pain is unbearable", "severe_pain"),
    ("sudden sharp pain shooting down my leg", "severe_pain"),
    ("my pain is 10/10 today", "severe_pain"),
    ("the pain is a 10 today", "severe_pain"),
    # new signs (issue 17 B): fainting; after neck surgery, swallowing and neck swelling
    ("i fainted in the bathroom", "fainting"),
    ("I passed out this morning", "fainting"),
    ("trouble swallowing since my neck surgery", "neck_swallowing"),
    ("my neck is all swollen after the op", "neck_swallowing"),
    # headache when upright, very sleepy
    ("bad headache every time i sit up", "headache_upright"),
    ("my husband is so drowsy on his meds and hard to wake", "very_sleepy"),
]


# Ordinary descriptions: what people write about pain that has come back, with nothing that needs a call today.
ORDINARY = [
    "My leg pain came back a year after my fusion.",
    "my legs feel tired after walking",
    "I had a laminectomy in 2019 and the pain is back",
    "Back pain most days, worse in the evening, better when I lie down.",
    "I cant walk far without resting and I cant stand for long",
    "I hurt myself lifting a box two years ago and then had surgery",
    "Physical therapy helped a little but the ache is still there",
    "I would like to know if prolotherapy could help me",
    "I take ibuprofen and it helps a bit",
    "I have trouble falling asleep because of the pain",
    "I am confused about which treatment to try next",
    "The surgeon said the fusion looks solid on the x-ray",
    "I had my surgery last fall and felt better for a few months",
    "My wife says I should ask for a second opinion",
    "Sitting at my desk all day makes my back stiff",
    "I work part time and want to get back to full time",
    "Can you tell me what a stimulator trial involves?",
    "They took out my gallbladder in 2019.",  # bladder inside another word
    "I counted the numbers of pills.",  # numb inside another word
    "Feverfew tea did not help.",
    "At the end it was the same pain as before",
    "pain shoots down my right leg to my knee",
    "my pain has been getting worse over the years",
    "I tried a stimulator but it did not help",
    "my pain is about a 6 out of 10",
    "the surgeon said the screws are loose",
    "",
]


def csv_rows(staff):
    text = staff.post("/staff/export.csv").get_data(as_text=True).lstrip("\ufeff")
    return {row["reference"]: row for row in csv.DictReader(io.StringIO(text))}


def reference_of(app, description):
    return storage.stored(app, "SELECT reference FROM requests WHERE description = :d", d=description)[0]["reference"]


def banner_of(staff, reference):
    detail = staff.get(f"/staff/requests/{reference}").get_data(as_text=True)
    found = re.search(r'<section class="flag-banner".*?</section>', detail, re.S)
    return found.group(0) if found else None
