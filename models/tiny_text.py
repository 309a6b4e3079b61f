"""A word-level tokenizer built locally (no downloads) for the tiny T5 text encoder.

The vocabulary covers the story templates ("Actor N is <action> on/in the <setting>.") and common
English words; anything else maps to `<unk>`. Text is lower-cased and split on whitespace and
punctuation; every sequence ends with `</s>`, as T5's does.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, EOS, UNK)

_NUMBERS = [str(i) for i in range(0, 101)] + [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "first", "second", "third",
]
_ACTIONS = """running walking jumping skiing swimming dancing sitting standing reading cooking eating drinking
playing singing riding cycling driving climbing skating surfing sleeping talking waving laughing crying
fighting throwing catching kicking hitting painting writing drawing fishing sailing rowing flying falling
rolling spinning turning looking watching walking hiking jogging sprinting crawling sliding bouncing
skateboarding snowboarding boxing shooting working studying typing listening smiling hugging pushing pulling
carrying lifting holding opening closing building digging planting cleaning washing waiting resting
stretching exercising training practicing performing juggling""".split()
_SETTINGS = """playground snow beach forest park street city road river lake ocean sea mountain mountains hill
desert field meadow garden kitchen room bedroom classroom office library stadium court gym pool track
bridge village town farm jungle cave sky space moon stage studio restaurant cafe market station airport
shore island valley grass sand ice rain night day sunset sunrise house home school church castle street
alley highway parking lot rooftop roof balcony yard backyard square plaza mall shop store hospital
museum theater cinema arena rink slope trail path desert dune waterfall canyon volcano swamp""".split()
_COMMON = """a an the is are was were be been being am of in on at to from with without by for about into onto
over under above below near behind between through across along around and or but not no yes this that these
those it its he she they we you i me him her them his their our your my who what where when why how which
there here then now again also very so too just only more most some any all each every other another same
different new old big small large little long short tall young happy sad red green blue yellow black white
orange purple pink brown gray grey dark bright light wearing shirt dress hat jacket coat man woman boy girl
child children people person dog cat bird horse car bike bicycle ball boat train plane tree trees water fire
actor actors character characters scene story video camera shot close up wide view slowly quickly together
alone while during after before down back front side left right top bottom inside outside toward towards
has have had do does did can will would could should may might must""".split()
_LOOKS = """cap top hat backpack scarf bag headband trousers striped shirt sun sunny dusk fog foggy night
person tall short""".split()
_PUNCT = list(".,!?;:'\"-()")


def tiny_vocabulary() -> list[str]:
    """The fixed vocabulary, special tokens first (`<pad>`=0, `</s>`=1, `<unk>`=2), no duplicates."""
    words: list[str] = list(SPECIAL_TOKENS)
    seen = set(words)
    for word in ["actor", *_NUMBERS, *_ACTIONS, *_SETTINGS, *_COMMON, *_LOOKS, *_PUNCT]:
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


@lru_cache(maxsize=4)
def _build(model_max_length: int) -> Any:
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {word: index for index, word in enumerate(tiny_vocabulary())}
    backend = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK))
    backend.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=False)])
    backend.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}", special_tokens=[(EOS, vocab[EOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        model_max_length=model_max_length,
        padding_side="right",
    )


def tiny_tokenizer(model_max_length: int = 16) -> Any:
    """A transformers fast tokenizer over `tiny_vocabulary()` (built in memory, deterministic)."""
    return _build(model_max_length)
