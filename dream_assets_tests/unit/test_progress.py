"""Progress bars of the long stages move as the work goes."""


def test_question_embeddings_shown_in_progress_come_in_batches_in_order():
    from dream_assets.lib.retrieval.query_embeddings import PROGRESS_BATCH, _embed

    class Encoder:
        calls: list[int] = []

        def get_text_embedding_batch(self, texts):
            self.calls.append(len(texts))
            return [[float(text)] for text in texts]

    texts = [str(i) for i in range(PROGRESS_BATCH * 2 + 5)]
    encoder, reported = Encoder(), []
    vectors = _embed(encoder, texts, lambda done, total: reported.append((done, total)))
    assert vectors == [[float(i)] for i in range(len(texts))]
    assert encoder.calls == [PROGRESS_BATCH, PROGRESS_BATCH, 5]
    n = len(texts)
    assert reported == [(PROGRESS_BATCH, n), (2 * PROGRESS_BATCH, n), (n, n)]  # the bar moves after each
    encoder.calls.clear()
    assert len(_embed(encoder, texts, None)) == n and encoder.calls == [n]  # nothing reported: one call
