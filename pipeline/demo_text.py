"""English-like text for the demo crawl: topic word lists poured into sentence templates.

The demo's good pages must pass what real filters check in real English (Gopher: stop words, word
lengths, no repeated n-grams; C4: lines end in punctuation; FineWeb; fastText lid.176 English with a
score above 0.65). So the templates are ordinary English clauses whose fixed parts are at most four
words long between slots, and a document draws templates without replacement until it has used them
all: two sentences rarely share a 5-gram, so the duplicate n-gram rules stay quiet on good pages.

Everything is drawn from a `random.Random` the caller seeds: the same seed gives the same text.
"""

from __future__ import annotations

import random
import re

TOPICS: dict[str, dict[str, list[str]]] = {
    "news": {
        "n": "council budget election mayor minister report inquiry policy vote parliament court ruling "
        "protest union agreement deadline committee senator hospital school tax bill official".split(),
        "a": "local national recent controversial annual public regional federal independent senior".split(),
        "v": "announced rejected approved questioned delayed criticised published reviewed "
        "defended proposed".split(),
    },
    "science": {
        "n": "study experiment telescope molecule protein cell galaxy sample researcher laboratory "
        "climate species fossil planet measurement theory enzyme particle signal dataset".split(),
        "a": "surprising careful early detailed genetic ancient distant microscopic promising rare".split(),
        "v": "observed measured identified confirmed tested analysed described discovered modelled tracked".split(),
    },
    "sports": {
        "n": "match striker coach season league goal referee stadium trophy tournament defender "
        "team championship captain fixture injury transfer final pitch supporter".split(),
        "a": "dramatic narrow comfortable young experienced disappointing impressive late decisive home".split(),
        "v": "scored defended missed signed coached celebrated won lost replaced praised".split(),
    },
    "cooking": {
        "n": "recipe onion garlic butter oven sauce pan flour dough tomato pepper soup salad "
        "chicken lemon spoon bowl kitchen spice vegetable".split(),
        "a": "fresh crispy golden simple creamy savoury tender warm fragrant homemade".split(),
        "v": "chopped roasted stirred baked seasoned whisked simmered sliced tasted served".split(),
    },
    "travel": {
        "n": "village museum harbour train hotel market mountain beach castle river valley "
        "bridge cathedral island guide ferry trail square festival cafe".split(),
        "a": "quiet historic crowded scenic charming remote affordable colourful peaceful famous".split(),
        "v": "visited explored reached booked crossed photographed recommended found enjoyed followed".split(),
    },
    "software": {
        "n": "function parameter module release server request database cache library option "
        "command interface buffer thread query file test version error configuration".split(),
        "a": "optional default invalid stable deprecated asynchronous custom empty local remote".split(),
        "v": "returned configured installed updated logged parsed loaded raised validated deployed".split(),
    },
    "forum": {
        "n": "bike tent boot trail map jacket stove backpack route campsite blister rain "
        "compass summit ridge lake forest shelter permit snack".split(),
        "a": "heavy light waterproof steep muddy cheap sturdy cold comfortable reliable".split(),
        "v": "tried carried bought replaced packed repaired tested wore lost recommended".split(),
    },
    "shop": {
        "n": "jacket battery charger lamp chair blender kettle speaker cable backpack "
        "mattress drill watch headset bottle case monitor keyboard pillow cover".split(),
        "a": "durable compact wireless lightweight adjustable rechargeable stylish quiet portable soft".split(),
        "v": "shipped delivered returned assembled charged tested ordered packaged designed reviewed".split(),
    },
    "reference": {
        "n": "kingdom treaty river dynasty language province empire railway poet architect "
        "century census region church island constitution economy painter territory monastery".split(),
        "a": "medieval northern southern colonial early modern classical industrial coastal rural".split(),
        "v": "founded governed described built recorded captured renamed restored inherited established".split(),
    },
}

FIRST = "Anna James Maria David Sofia Peter Laura Daniel Elena Thomas Clara Samuel Nina Oliver Grace".split()
LAST = "Walker Bennett Lopez Fischer Moreau Novak Turner Hughes Silva Brooks Keller Dawson Reed".split()
PLACES = "Leeds Portland Lyon Bergen Tucson Halifax Porto Dundee Ghent Austin Perth Utrecht Galway".split()
ORGS = "the city council|the university|the regional agency|a local charity|the national office|the committee".split(
    "|"
)
ADVERBS = "quickly carefully slowly quietly openly finally largely mostly clearly rarely".split()
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()

# Slots: {n} noun, {ns} plural noun, {a} adjective, {v} past verb, {p} person, {pl} place,
# {org} organisation, {adv} adverb, {num} number, {yr} year, {day} weekday.
TEMPLATES = [
    "The {a} {n} was {v} by {p} on {day}.",
    "{p} said that the {n} had been {v} {adv}.",
    "According to {p}, most {ns} in {pl} are {a}.",
    "In {yr}, {org} {v} a {a} {n} near {pl}.",
    "Nobody expected the {n} to be so {a}.",
    "It took {num} days before the {ns} were {v}.",
    "Several {ns} were {v} after a {a} {n} appeared.",
    "When {p} {v} the {n}, the {ns} looked {a}.",
    "There are at least {num} {a} {ns} in {pl}.",
    "Critics argue that {ns} should be {v} more {adv}.",
    "Her {n} was {a}, but the {ns} were not.",
    "We {v} another {n} and found it {a}.",
    "The first {n} in {pl} dates from {yr}.",
    "Many {ns} have been {v} since {yr}.",
    "Why would anyone leave a {a} {n} behind?",
    "{p} and {p2} {v} the {n} together.",
    "Each {n} is {v} before it reaches {pl}.",
    "A {a} {n} can change how {ns} behave.",
    "By {day}, {org} had {v} {num} {ns}.",
    "The {ns} near {pl} remain {a} and {a2}.",
    "Most visitors never notice the {a} {n}.",
    "{p} {adv} {v} what others had missed.",
    "Some {ns} are {a}, while others seem {a2}.",
    "This {n} was {v} with great care.",
    "Their {n} became {a} within {num} weeks.",
    "After the {n} was {v}, {p} went home.",
    "One {n} alone was {v} {num} times.",
    "It is not clear whether the {ns} were {v}.",
    "Officials in {pl} {v} the {a} {n}.",
    "Without a {n}, the {ns} would be {a}.",
    "Few people had {v} a {n} like this.",
    "The {a} {ns} of {pl} attract many visitors.",
    "{p} thinks the {n} is too {a}.",
    "During {yr}, the {ns} were {adv} {v}.",
    "Ask {p} about the {n} and you hear stories.",
    "Two {ns} were {v} on the same {day}.",
    "That {n} has been {a} for years.",
    "Perhaps the {ns} were never really {a}.",
    "Residents of {pl} {v} the {n} last year.",
    "Later that {day}, the {n} was {v}.",
    "The story of the {n} began in {pl}.",
    "If the {n} is {a}, the {ns} follow.",
    "{org} {v} that {num} {ns} were {a}.",
    "Even so, the {a} {n} was {v}.",
    "Nearly {num} percent of {ns} were {a}.",
    "Still, {p} {v} a second {n}.",
    "The {n} from {pl} proved {a}.",
    "Everyone agreed the {n} should be {v}.",
    "You can see the {ns} from {pl}.",
    "In the end, {p} {v} the {a} {n}.",
]


def plural(noun: str) -> str:
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _fill(template: str, topic: dict[str, list[str]], rng: random.Random) -> str:
    def pick(kind: str) -> str:
        if kind in ("n", "ns"):
            noun = rng.choice(topic["n"])
            return plural(noun) if kind == "ns" else noun
        if kind in ("a", "a2"):
            return rng.choice(topic["a"])
        if kind == "v":
            return rng.choice(topic["v"])
        if kind in ("p", "p2"):
            return f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if kind == "pl":
            return rng.choice(PLACES)
        if kind == "org":
            return rng.choice(ORGS)
        if kind == "adv":
            return rng.choice(ADVERBS)
        if kind == "num":
            return str(rng.randint(2, 95))
        if kind == "yr":
            return str(rng.randint(1850, 2023))
        if kind == "day":
            return rng.choice(WEEKDAYS)
        raise KeyError(kind)

    text = re.sub(r"\{(\w+)\}", lambda m: pick(m.group(1)), template)
    text = re.sub(r"\b([Aa]) ([aeiou])", r"\1n \2", text)  # a -> an before a vowel
    return text[0].upper() + text[1:]


class SentenceSource:
    """Sentences on one topic; templates are drawn without replacement, reshuffled when used up."""

    def __init__(self, topic: str, rng: random.Random):
        self.topic = TOPICS[topic]
        self.rng = rng
        self.queue: list[str] = []

    def sentence(self) -> str:
        if not self.queue:
            self.queue = list(TEMPLATES)
            self.rng.shuffle(self.queue)
        return _fill(self.queue.pop(), self.topic, self.rng)


def paragraphs(topic: str, rng: random.Random, n_words: int) -> list[str]:
    """About n_words of text on `topic`, in paragraphs of 3 to 7 sentences."""
    source = SentenceSource(topic, rng)
    out: list[str] = []
    words = 0
    while words < n_words:
        para = " ".join(source.sentence() for _ in range(rng.randint(3, 7)))
        out.append(para)
        words += len(para.split())
    return out


def title(topic: str, rng: random.Random) -> str:
    t = TOPICS[topic]
    noun = rng.choice(t["n"])
    return f"{rng.choice(t['a']).capitalize()} {noun} {rng.choice(t['v'])} in {rng.choice(PLACES)}"


# Real sentences, written for this project, for the non-English pages (dropped by language id).
FOREIGN = {
    "de": [
        "Der Gemeinderat hat am Dienstag einen neuen Haushalt für das kommende Jahr beschlossen.",
        "Viele Bürger hatten sich zuvor über die hohen Kosten für den Ausbau der Schulen beschwert.",
        "Nach Angaben der Stadtverwaltung sollen die Arbeiten im Frühjahr beginnen.",
        "Die Bibliothek bleibt während der Umbauphase an drei Tagen in der Woche geöffnet.",
        "Im Sommer fand auf dem Marktplatz wieder das beliebte Musikfest statt.",
        "Wer mit dem Zug anreist, erreicht die Altstadt in wenigen Minuten zu Fuß.",
        "Die Wanderung durch das Tal dauert etwa vier Stunden und ist auch für Familien geeignet.",
        "Zum Abschluss empfehlen wir einen Besuch im kleinen Museum am Hafen.",
    ],
    "fr": [
        "Le conseil municipal a adopté mardi soir le budget prévu pour l'année prochaine.",
        "De nombreux habitants s'étaient plaints du manque de places dans les écoles du quartier.",
        "Selon la mairie, les travaux de rénovation commenceront au printemps.",
        "La bibliothèque restera ouverte trois jours par semaine pendant toute la durée du chantier.",
        "Cet été, le festival de musique a de nouveau attiré des milliers de visiteurs.",
        "Depuis la gare, il suffit de quelques minutes à pied pour rejoindre la vieille ville.",
        "La randonnée dans la vallée dure environ quatre heures et convient aux familles.",
        "Pour terminer la journée, nous vous conseillons le petit musée situé près du port.",
    ],
    "es": [
        "El ayuntamiento aprobó el martes el nuevo presupuesto para el próximo año.",
        "Muchos vecinos se habían quejado de la falta de plazas en las escuelas del barrio.",
        "Según el alcalde, las obras de renovación empezarán en primavera.",
        "La biblioteca seguirá abierta tres días a la semana mientras duren las obras.",
        "Este verano, el festival de música volvió a llenar la plaza mayor de visitantes.",
        "Desde la estación de tren se llega al casco antiguo en pocos minutos a pie.",
        "La ruta por el valle dura unas cuatro horas y es adecuada para toda la familia.",
        "Para terminar el día, recomendamos visitar el pequeño museo junto al puerto.",
    ],
}
JAPANESE = "今日は天気がとても良いので、公園で散歩をしました。駅の近くに新しいパン屋が開店しました。"

LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
    "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip "
    "ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu "
    "fugiat nulla pariatur."
)

SPAM_KEYWORDS = "cheap watches best price discount replica watches buy now free shipping sale".split()
