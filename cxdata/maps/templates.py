"""Ready-made journey maps to start a workshop from (retail, SaaS onboarding, …) and a blank map."""
from __future__ import annotations

import copy
from dataclasses import dataclass

from cxdata.maps.journey_map import JourneyMap, Lane, MapFormatError, Persona, Stage, default_topic, new_id


@dataclass(frozen=True)
class Template:
    key: str
    title: str
    description: str
    stages: tuple[str, ...]
    persona: Persona
    scenario: str
    #: (lane name, kind, topic, one cell text per stage)
    lanes: tuple[tuple[str, str, str, tuple[str, ...]], ...]


def _lanes(goals, actions, touchpoints, emotion, pains, opportunities):
    return (("Customer goals", "text", "goals", goals),
            ("Actions", "text", "actions", actions),
            ("Touchpoints", "touchpoints", "typed", touchpoints),
            ("Emotion", "emotion", "typed", emotion),
            ("Pain points", "text", "pain_points", pains),
            ("Opportunities", "text", "opportunities", opportunities))


TEMPLATES: dict[str, Template] = {t.key: t for t in (
    Template(
        "retail", "Retail / e-commerce", "From first hearing of the shop to recommending it.",
        ("Aware", "Consideration", "Purchase", "Delivery", "Retention", "Advocacy"),
        Persona("Maya, busy parent", "Shops on her phone in short breaks; compares prices.",
                "Get the right thing quickly, no surprises at delivery."),
        "Maya needs a new school backpack for her son before Monday.",
        _lanes(
            ("Find options that fit", "Compare price and quality", "Pay quickly and safely",
             "Get it on time", "Reorder easily", "Tell friends about a good find"),
            ("Sees an ad, searches", "Reads reviews, compares", "Adds to basket, checks out",
             "Tracks the parcel", "Returns for refills", "Writes a review"),
            ("Social ads\nSearch", "Product page\nReviews", "Checkout\nPayment page",
             "Tracking e-mail\nCourier", "App\nNewsletter", "Review site\nReferral link"),
            ("+1 curious", "0 unsure", "-1 anxious about fees", "-2 parcel late",
             "+1 easy reorder", "+2 proud of the find"),
            ("Too many similar products", "Reviews hard to trust", "Delivery fee shown late",
             "No update when delayed", "", ""),
            ("Guided size finder", "Verified-buyer badges", "Show total price up front",
             "Proactive delay message", "One-tap reorder", "Referral reward")),
    ),
    Template(
        "saas_onboarding", "SaaS onboarding", "From sign-up to a team that renews.",
        ("Sign up", "First login", "Setup", "First value", "Team adoption", "Renewal"),
        Persona("Sam, team lead", "Evaluates tools for a team of eight; little spare time.",
                "Prove the tool saves time within the trial."),
        "Sam starts a 14-day trial to replace spreadsheets for project tracking.",
        _lanes(
            ("Start the trial fast", "Understand the product", "Import existing work",
             "See a real result", "Get the team on board", "Justify the cost"),
            ("Fills in the form", "Takes the tour", "Imports a spreadsheet",
             "Builds a first dashboard", "Invites colleagues", "Reviews the invoice"),
            ("Pricing page\nSign-up form", "Welcome e-mail\nProduct tour", "Import wizard",
             "Dashboard", "Invite e-mail\nSlack app", "Billing page\nAccount manager"),
            ("+1 hopeful", "0", "-2 import fails", "+2 aha moment", "-1 colleagues slow",
             "+1 worth it"),
            ("Credit card asked up front", "Tour too long", "Import errors unclear", "",
             "No admin overview", "Surprise price increase"),
            ("No-card trial", "Skippable tour", "Import preview with fixes",
             "Template dashboards", "Team usage report", "Renewal summary of value")),
    ),
    Template(
        "bank_account", "Bank account opening", "From research to everyday banking.",
        ("Research", "Apply online", "Verify identity", "Fund account", "First use",
         "Ongoing banking"),
        Persona("Leo, new to the country", "Needs an account to receive his salary.",
                "Open an account quickly with the documents he has."),
        "Leo starts a new job next week and must give his employer an account number.",
        _lanes(
            ("Pick a trustworthy bank", "Apply in one sitting", "Prove who he is",
             "Move money in", "Pay with the card", "Manage money easily"),
            ("Compares fees", "Fills in the application", "Uploads documents, video call",
             "Makes first transfer", "Pays in a shop", "Uses the app weekly"),
            ("Comparison site\nBank website", "Application form", "ID upload\nVideo call",
             "Online banking", "Card\nMobile wallet", "Mobile app\nBranch"),
            ("0", "-1 long form", "-2 documents rejected", "+1", "+2 card works", "+1"),
            ("Fees hard to compare", "Form times out", "Foreign ID not accepted",
             "Transfer limit unclear", "Card arrives late", ""),
            ("Clear fee calculator", "Save and resume", "Accept more ID types",
             "Show limits up front", "Instant virtual card", "Spending insights")),
    ),
    Template(
        "support_ticket", "Support ticket", "From noticing a problem to a confirmed fix.",
        ("Problem noticed", "Seek help", "Contact support", "Diagnosis", "Resolution",
         "Follow-up"),
        Persona("Priya, small-business owner", "Relies on the product to take orders.",
                "Get the problem fixed before customers notice."),
        "Priya's online orders stopped syncing on a busy Friday.",
        _lanes(
            ("Understand what broke", "Fix it herself", "Reach a person", "Be understood",
             "Have it fixed", "Trust it won't recur"),
            ("Notices missing orders", "Searches the help centre", "Opens a chat, then a ticket",
             "Answers questions, sends logs", "Applies the fix", "Reads the follow-up"),
            ("Dashboard alert", "Help centre\nCommunity forum", "Chat bot\nTicket form",
             "E-mail thread", "Support agent\nRelease notes", "Survey e-mail"),
            ("-1 worried", "-1", "-2 stuck with bot", "-1 repeats herself", "+1 relieved",
             "+1"),
            ("No status page", "Articles out of date", "Bot loops, no human option",
             "Asked for the same details twice", "", "Survey too long"),
            ("Live status page", "Article feedback button", "Hand-off to a human in 2 steps",
             "Ticket carries the chat history", "Fix confirmed in the app", "One-question survey")),
    ),
)}


def from_template(key: str, *, with_examples: bool = True, name: str | None = None) -> JourneyMap:
    """A new map from a template; ``with_examples=False`` keeps stages and lanes only."""
    try:
        template = TEMPLATES[key]
    except KeyError:
        raise MapFormatError(f"Unknown template {key!r}; use one of {', '.join(TEMPLATES)}.") from None
    stages = [Stage(new_id("s"), stage_name) for stage_name in template.stages]
    lanes = []
    for lane_name, kind, topic, texts in template.lanes:
        cells = {}
        if with_examples:
            cells = {s.id: t for s, t in zip(stages, texts) if t}
        lanes.append(Lane(new_id("l"), lane_name, kind, topic, cells))
    persona = copy.deepcopy(template.persona) if with_examples else Persona()
    return JourneyMap(name=name or template.title, stages=stages, lanes=lanes, persona=persona,
                      scenario=template.scenario if with_examples else "")


def blank_map(name: str = "New journey map", stage_names=("Stage 1", "Stage 2", "Stage 3"),
              lane_names=("Customer goals", "Touchpoints", "Emotion", "Pain points",
                          "Opportunities")) -> JourneyMap:
    """An empty map; lanes named like the usual ones get the matching kind."""
    stages = [Stage(new_id("s"), n) for n in stage_names]
    lanes = []
    for lane_name in lane_names:
        lowered = lane_name.lower()
        kind = ("emotion" if "emotion" in lowered or "feeling" in lowered
                else "touchpoints" if "touchpoint" in lowered else "text")
        lanes.append(Lane(new_id("l"), lane_name, kind, default_topic(kind, lane_name)))
    return JourneyMap(name=name, stages=stages, lanes=lanes)
