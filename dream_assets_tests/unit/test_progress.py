"""Progress bars of the long stages move as the work goes."""


def test_question_embeddings_shown_in_progress_come_in_batches_in_order():
    from dream_assets.lib.retrieval.query_embeddings import PROGRESS_BATCH, _embed

    class Encoder:
        calls: list[int] = []

        def get_text_embedding_batch(self, texts):
            self.calls.append(len(texts))
            return [[float(text)] for text in texts]

    texts = [str(i) for i in range(PROGRESS_BATCH * 2 + 5)]
    encoder = Encoder()
    assert _embed(encoder, texts, "question embeddings m") == [[float(i)] for i in range(len(texts))]
    assert encoder.calls == [PROGRESS_BATCH, PROGRESS_BATCH, 5]  # the bar moves after each
    encoder.calls.clear()
    assert len(_embed(encoder, texts, "")) == len(texts) and encoder.calls == [len(texts)]  # no bar: one call
