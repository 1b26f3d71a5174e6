"""An LLM provider whose LLM kills its own process with SIGILL on the first completion, as a
llama.cpp build with an instruction the CPU lacks does: what a trial's worker dying of a signal
looks like to the sweep (`dream_assets.lib.evaluation.worker_crash`). Named in an LLM table by import path,
`dream_assets_tests.crashing_llm:SigillProvider`."""

import os
import signal

from llama_index.core.llms import CompletionResponse, MockLLM

from dream_assets.plugins.llm_providers import LlmProviderBase


class SigillLlm(MockLLM):
    """Dies of SIGILL when asked anything."""

    def complete(self, prompt: str, formatted: bool = False, **kwargs) -> CompletionResponse:
        """Never returns: the process receives SIGILL."""
        os.kill(os.getpid(), signal.SIGILL)
        raise AssertionError("unreachable: the process died of SIGILL")


class SigillProvider(LlmProviderBase):
    """Serves `SigillLlm` under any name."""

    def make_llm(self, settings, stop=None):
        """The LLM that dies of SIGILL."""
        return SigillLlm()

    def structured_client(self, settings):
        """Not used: this LLM only answers (and dies)."""
        raise NotImplementedError
