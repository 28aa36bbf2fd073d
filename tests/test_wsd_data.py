"""Context-gloss pairs: markers, multi-word targets, same-POS candidates, sampling, batching."""

import numpy as np
import pytest

from cohesive.corpora.raganato import Instance, Sentence, Token
from cohesive.errors import CohesiveError
from cohesive.wsd.data import (
    BucketSampler,
    PairCollator,
    PairEncoder,
    PairTemplate,
    Sampling,
    UnknownLemmaError,
    context_window,
    instance_batches,
    marked_context,
)

RIVER = [("He", "he", "PRON"), ("sat", "sit", "VERB"), ("on", "on", "ADP"), ("the", "the", "DET"),
         ("bank", "bank", "NOUN"), ("of", "of", "ADP"), ("the", "the", "DET"), ("river", "river", "NOUN"),
         (".", ".", ".")]


def instance(words, target: int, instance_id: str = "d0.s0.t0", lemma: str | None = None, pos: str | None = None):
    tokens = [Token(text, lem, p, instance_id if i == target else None) for i, (text, lem, p) in enumerate(words)]
    token = tokens[target]
    return Instance(instance_id, lemma or token.lemma, pos or token.pos, target, Sentence("d0.s0", "d0", tokens))


@pytest.fixture(scope="module")
def encoder(tokenizer, lex):
    return PairEncoder(tokenizer, lex, max_length=128, max_gloss_tokens=48)


def segments(tokenizer, item):
    """Decode a pair item into (segment A, segment B) using its token types."""
    ids, types = item["input_ids"], item["token_type_ids"]
    special = set(tokenizer.all_special_ids)
    a = [i for i, t in zip(ids, types) if t == 0 and i not in special]
    b = [i for i, t in zip(ids, types) if t == 1 and i not in special]
    return tokenizer.decode(a), tokenizer.decode(b)


def test_marked_context_wraps_the_target_span():
    text, begin, end = marked_context(["He", "sat", "on", "the", "bank"], 4, 5)
    assert text == 'He sat on the " bank "'
    assert text[begin:end] == '" bank "'
    text, begin, end = marked_context(["Rivers", "flow"], 0, 1)
    assert (text, text[begin:end]) == ('" Rivers " flow', '" Rivers "')


def test_pairs_of_a_hand_made_sentence(encoder, tokenizer, lex):
    gold_key = lex.senses("bank", "n")[0].key
    pairs = encoder.build([instance(RIVER, 4)], {"d0.s0.t0": [gold_key]})
    senses = lex.senses("bank", "n")
    assert pairs.keys_of(0) == [s.key for s in senses]  # every noun sense, WordNet order
    assert pairs.labels.tolist() == [int(s.key == gold_key) for s in senses]
    for i, sense in enumerate(senses):
        context, gloss = segments(tokenizer, pairs[i])
        assert context == 'he sat on the " bank " of the river.'
        assert f"bank : {sense.gloss}".lower().replace(" ", "").startswith(gloss.replace(" ", ""))
    ids = pairs[0]["input_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    start, end = pairs.spans[0]
    context_ids = pairs.contexts[pairs.instance_context[0]]
    assert tokenizer.convert_ids_to_tokens(context_ids[start:end].tolist()) == ['"', "bank", '"']


def test_multi_word_target(encoder, tokenizer, lex):
    words = [("The", "the", "DET"), ("meeting", "meeting", "NOUN"), ("took place", "take_place", "VERB"),
             ("yesterday", "yesterday", "ADV")]
    pairs = encoder.build([instance(words, 2)])
    assert pairs.keys_of(0) == [s.key for s in lex.senses("take_place", "v")]
    context, gloss = segments(tokenizer, pairs[0])
    assert context == 'the meeting " took place " yesterday'
    assert gloss.startswith("take place : ")
    start, end = pairs.spans[0]
    assert tokenizer.decode(pairs.contexts[0][start:end]) == '" took place "'
    assert set(pairs.labels.tolist()) == {-1}  # no gold given: prediction pairs


def test_candidates_are_the_senses_of_the_targets_pos_only(encoder, lex):
    verb = encoder.build([instance(RIVER, 4, pos="VERB")])
    assert verb.keys_of(0) == [s.key for s in lex.senses("bank", "v")]
    assert not set(verb.keys_of(0)) & {s.key for s in lex.senses("bank", "n")}


def test_unknown_lemma_is_a_clear_error(encoder):
    with pytest.raises(UnknownLemmaError, match="no NOUN sense for 'xyzzyq'") as error:
        encoder.build([instance(RIVER, 4, lemma="xyzzyq")])
    assert isinstance(error.value, CohesiveError) and "\n" not in str(error.value)


def test_template_matches_the_tokenizers_own_pairs(tokenizer):
    template = PairTemplate.from_tokenizer(tokenizer)
    a = tokenizer("the river bank", add_special_tokens=False)["input_ids"]
    b = tokenizer("bank : sloping land", add_special_tokens=False)["input_ids"]
    ids, types = template.build(np.array(a), np.array(b))
    reference = tokenizer("the river bank", "bank : sloping land")
    assert ids.tolist() == reference["input_ids"] and types.tolist() == reference["token_type_ids"]


@pytest.mark.parametrize("length,start,end,budget", [(10, 3, 4, 20), (100, 0, 2, 10), (100, 97, 99, 10),
                                                      (100, 50, 53, 9), (100, 40, 60, 8)])
def test_context_window_keeps_the_target(length, start, end, budget):
    lo, hi = context_window(length, start, end, budget)
    assert 0 <= lo and hi <= length and hi - lo == min(length, budget)
    if end - start <= budget:
        assert lo <= start and end <= hi


def test_long_contexts_are_cut_around_the_target(tokenizer, lex):
    words = [("word", "word", "NOUN")] * 200 + [("bank", "bank", "NOUN")] + [("word", "word", "NOUN")] * 200
    pairs = PairEncoder(tokenizer, lex, max_length=64, max_gloss_tokens=24).build([instance(words, 200)])
    item = pairs[0]
    assert len(item["input_ids"]) <= 64 and pairs.lengths.max() <= 64
    assert '" bank "' in tokenizer.decode(item["input_ids"])


def test_sampling_controls(encoder, lex):
    senses = lex.senses("bank", "n")
    gold = {"d0.s0.t0": [senses[3].key]}
    capped = encoder.build([instance(RIVER, 4)], gold, Sampling(max_candidates=3))
    assert capped.keys_of(0) == [senses[0].key, senses[1].key, senses[3].key]  # gold + first negatives
    drawn = encoder.build([instance(RIVER, 4)], gold, Sampling(negatives_per_positive=2, seed=1))
    assert len(drawn) == 3 and drawn.labels.sum() == 1 and senses[3].key in drawn.keys_of(0)
    many = [instance(RIVER, 4, instance_id=f"d0.s0.t{i}") for i in range(400)]
    kept = encoder.build(many, {}, Sampling(instance_share=0.25, max_candidates=1))
    assert 60 < len(kept.instance_ids) < 140
    with pytest.raises(CohesiveError):
        Sampling(instance_share=0)


def test_bucket_sampler_is_a_shuffled_permutation_of_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 128, size=1000)
    sampler = BucketSampler(lengths, batch_size=16, seed=3)
    order = list(sampler)
    assert sorted(order) == list(range(1000))
    spread = np.mean([np.ptp(lengths[order[i:i + 16]]) for i in range(0, 992, 16)])
    assert spread < 10  # random batches spread over ~100
    assert list(BucketSampler(lengths, 16, seed=3)) == order
    sampler.set_epoch(1)
    assert list(sampler) != order


def test_instance_batches_never_split_an_instance(encoder, lex):
    words = RIVER
    instances = [instance(words, i, instance_id=f"d0.s0.t{i}") for i in (1, 4, 7)]
    pairs = encoder.build(instances)
    batches = list(instance_batches(pairs, max_pairs=12))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(pairs)))
    for batch in batches:
        owners = set(pairs.pair_instance[batch].tolist())
        assert sum(np.diff(pairs.offsets)[list(owners)]) == len(batch)


def test_collator_pads_and_masks_only_real_tokens(encoder, tokenizer):
    pairs = encoder.build([instance(RIVER, 4), instance(RIVER, 7, instance_id="d0.s0.t1")], {"d0.s0.t0": []})
    items = [pairs[i] for i in range(len(pairs))]
    batch = PairCollator(tokenizer, mlm_probability=0.5, seed=0)(items)
    lengths = [len(item["input_ids"]) for item in items]
    assert batch["input_ids"].shape == (len(items), max(lengths))
    assert batch["attention_mask"].sum(1).tolist() == lengths
    masked = batch["mlm_labels"] != -100
    special = np.isin(np.array([np.pad(i["input_ids"], (0, max(lengths) - len(i["input_ids"])))
                                for i in items]), tokenizer.all_special_ids)
    assert masked.any() and not (masked.numpy() & special).any()
    plain = PairCollator(tokenizer)(items)
    assert "mlm_labels" not in plain and plain["labels"].tolist() == [0] * len(items)
