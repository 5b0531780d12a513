"""curation: data curation and selection for LLM pretraining corpora."""

from curation.corpus import Corpus
from curation.errors import UserError

__all__ = ["Corpus", "UserError"]
__version__ = "0.1.0"
