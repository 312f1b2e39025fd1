"""Streamed text cut into pieces for Cartesia: the aggregator (plain sync tests and a
property over random chunkings) and the feed's idle timeout on trio's MockClock."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from herald.speech.feed import StreamIdle, TextAggregator, TextFeed
from herald.text import ready_for_first_push


def pieces(*chunks: str, close: bool = True) -> list[str]:
    """What the aggregator releases, chunk by chunk ("" where it holds back)."""
    agg = TextAggregator()
    out = [agg.add(chunk) for chunk in chunks]
    if close:
        out.append(agg.close())
    return out


# --- the first push -----------------------------------------------------------------


def test_the_first_push_waits_for_four_complete_words() -> None:
    assert pieces("Ding", " dong,", " someone", " is", " at", " the", close=False) == [
        "",
        "",
        "",
        "",
        "Ding dong, someone is ",
        "",
    ]


def test_a_word_still_being_written_is_not_counted() -> None:
    # "is" may yet become "island": four words only once the space after them came
    assert pieces("Ding dong someone is", close=False) == [""]
    assert pieces("Ding dong someone is", " ", close=False) == ["", "Ding dong someone is "]


def test_a_sentence_end_is_enough_for_the_first_push() -> None:
    assert pieces("Hi", "! ", "How", close=False) == ["", "Hi! ", ""]
    assert pieces("Hi. How are", close=False) == ["Hi. "]
    assert pieces('He said "No." ', close=False) == ['He said "No." ']


def test_a_stop_without_the_space_after_it_is_not_yet_a_boundary() -> None:
    # "3." may be "3.5": nothing goes out until the text after it is known
    assert pieces("It is 3.", "5", " now", close=False) == ["", "", ""]
    agg = TextAggregator()
    assert agg.add("Good morning. ") == "Good morning. "
    assert agg.add("It is 3.") == ""
    assert agg.add("5 degrees, ") == "It is 3.5 degrees, "


def test_punctuation_alone_never_opens_the_context() -> None:
    # Cartesia rejects a first input with no word in it, and ends the context
    assert pieces("... ", "— ", "Well", " then. ", close=False) == ["", "", "", "... — Well then. "]


def test_a_short_text_goes_out_whole_at_close() -> None:
    assert pieces("Hi", " there") == ["", "", "Hi there"]


# --- later pushes -------------------------------------------------------------------


def test_later_pushes_go_at_sentence_and_clause_ends() -> None:
    out = pieces(
        "The washing machine",
        " has finished; ",
        "please take",
        " the laundry out, ",
        "or it will",
        " smell. Thanks",
        "!",
    )
    assert out == [
        "",
        "The washing machine has finished; ",
        "",
        "please take the laundry out, ",
        "",
        "or it will smell. ",
        "",
        "Thanks!",
    ]


def test_a_line_break_is_a_boundary() -> None:
    assert pieces("Shopping list for today\n", "eggs\n", "milk", close=False) == [
        "Shopping list for today\n",
        "eggs\n",
        "",
    ]


def test_numbers_and_abbreviations_do_not_split_without_whitespace() -> None:
    assert pieces("The total is 1,000 euros", " and 3.5 cents", close=False) == [
        "The total is 1,000 ",
        "",
    ]


def test_everything_released_so_far_goes_in_one_piece() -> None:
    agg = TextAggregator()
    assert agg.add("Hello there. ") == "Hello there. "
    assert agg.add("One. Two, three; four: five six") == "One. Two, three; four: "
    assert agg.pending == "five six"


def test_a_long_run_without_punctuation_goes_out_anyway() -> None:
    agg = TextAggregator(max_pending_words=5)
    assert agg.add("Here we go now, ") == "Here we go now, "
    assert agg.add("one two three four") == ""
    assert agg.add(" five six") == "one two three four five "
    assert agg.pending == "six"


def test_a_pause_ends_a_clause_at_the_very_end() -> None:
    agg = TextAggregator()
    assert agg.add("Hi!") == ""  # "Hi!!" or "Hi!?" may follow
    assert agg.pause() == "Hi!"  # not now: the writer paused
    assert agg.add(" The weather is") == ""
    assert agg.pause() == ""  # "is" may yet become "isn't"
    assert agg.add(" fine, thanks") == " The weather is fine, "
    assert agg.add(".") == ""
    assert agg.pause() == "thanks."


def test_a_pause_does_not_open_the_context_with_too_little() -> None:
    agg = TextAggregator()
    assert agg.add("Well,") == ""
    assert agg.pause() == ""
    assert agg.add(" I think so.") == ""
    assert agg.pause() == "Well, I think so."


def test_cjk_marks_need_no_space() -> None:
    assert pieces("你好。", "今天天气很好，", "我们") == ["你好。", "今天天气很好，", "", "我们"]


def test_add_after_close_is_an_error() -> None:
    agg = TextAggregator()
    agg.close()
    with pytest.raises(RuntimeError):
        agg.add("late")


# --- the properties -----------------------------------------------------------------

_ALPHABET = st.sampled_from(list("abc XYZ.,;:!?…\n\t—\"')1。，é"))
_CHUNKS = st.lists(st.text(_ALPHABET, max_size=12), max_size=30)


@given(_CHUNKS)
def test_pieces_concatenate_to_the_chunks_verbatim(chunks: list[str]) -> None:
    out = pieces(*chunks)
    assert "".join(out) == "".join(chunks)


@given(st.lists(st.tuples(st.text(_ALPHABET, max_size=12), st.booleans()), max_size=30))
def test_with_pauses_too(steps: list[tuple[str, bool]]) -> None:
    agg = TextAggregator()
    out: list[str] = []
    for chunk, pause in steps:
        out.append(agg.add(chunk))
        if pause:
            out.append(agg.pause())
    # the first piece (before close) is one the context sends at once: the
    # aggregator and cartesia.Utterance agree on the first-push rule
    first = next((p for p in out if p), None)
    if first is not None:
        assert ready_for_first_push(first, 4)
    out.append(agg.close())
    assert "".join(out) == "".join(chunk for chunk, _ in steps)


@given(_CHUNKS)
def test_pieces_before_close_end_with_whitespace_or_a_cjk_mark(chunks: list[str]) -> None:
    # so no word is ever split across two pushes
    agg = TextAggregator()
    for chunk in chunks:
        piece = agg.add(chunk)
        if piece:
            assert piece[-1].isspace() or piece[-1] in "。，」』”’)）"


# --- the feed -----------------------------------------------------------------------


async def test_the_feed_hands_out_pieces_then_none(autojump_clock: trio.testing.MockClock) -> None:
    feed = TextFeed(idle_timeout=5.0)
    feed.add("Hello there, ")
    feed.add("this is herald")
    assert await feed.next_piece() == "Hello there, this is "
    feed.add(" speaking. And")
    assert await feed.next_piece() == "herald speaking. "
    assert feed.text[: feed.taken] == "Hello there, this is herald speaking. "
    feed.close()
    assert not feed.exhausted
    assert await feed.next_piece() == "And"
    assert feed.exhausted
    assert await feed.next_piece() is None
    assert feed.text == "Hello there, this is herald speaking. And"
    with pytest.raises(RuntimeError):
        feed.add("late")


async def test_next_piece_waits_for_the_next_chunk(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    feed = TextFeed(idle_timeout=5.0)

    async def writer() -> None:
        for chunk in ("One", " two", " three", " four ", "five."):
            await trio.sleep(1.0)
            feed.add(chunk)
        await trio.sleep(1.0)
        feed.close()

    nursery.start_soon(writer)
    start = trio.current_time()
    assert await feed.next_piece() == "One two three four "
    assert trio.current_time() - start == pytest.approx(4.0)
    # no text after "five." for a moment: the writer has paused, the sentence is over
    assert await feed.next_piece() == "five."
    assert trio.current_time() - start == pytest.approx(5.0 + feed.pause)
    assert await feed.next_piece() is None
    assert trio.current_time() - start == pytest.approx(6.0)


async def test_idle_counts_from_the_last_chunk(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    feed = TextFeed(idle_timeout=5.0)
    start = trio.current_time()

    async def writer() -> None:
        await trio.sleep(3.0)
        feed.add("Still")
        await trio.sleep(3.0)
        feed.add(" here")

    nursery.start_soon(writer)
    with pytest.raises(StreamIdle, match="idle for 5 s"):
        await feed.next_piece()
    # the last chunk came at 6 s: idle at 11 s, not at 5
    assert trio.current_time() - start == pytest.approx(11.0)
    assert feed.text == "Still here"


async def test_pieces_ready_before_the_idle_time_are_still_handed_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    feed = TextFeed(idle_timeout=2.0)
    feed.add("Ding dong, someone is at")
    await trio.sleep(10.0)
    assert await feed.next_piece() == "Ding dong, someone is "
    with pytest.raises(StreamIdle):
        await feed.next_piece()


async def test_complete_waits_for_the_final_chunk_or_idles(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    feed = TextFeed(idle_timeout=5.0)
    feed.add("All of ")

    async def writer() -> None:
        await trio.sleep(4.0)
        feed.add("it.")
        await trio.sleep(4.0)
        feed.close()

    nursery.start_soon(writer)
    assert await feed.complete() == "All of it."
    assert feed.closed
    idle = TextFeed(idle_timeout=5.0)
    idle.add("Never finished")
    with pytest.raises(StreamIdle):
        await idle.complete()


async def test_a_closed_feed_never_idles(autojump_clock: trio.testing.MockClock) -> None:
    feed = TextFeed(idle_timeout=1.0)
    feed.add("Done.")
    feed.close()
    await trio.sleep(60.0)
    assert await feed.complete() == "Done."
    assert await feed.next_piece() == "Done."
    assert await feed.next_piece() is None
