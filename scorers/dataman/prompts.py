"""DataMan's 14 quality criteria, 15 domains, and its two prompts (Peng et al. 2025, arXiv:2502.19363).

``annotation_prompt`` is the teacher prompt (GPT-4 in the paper) that asks for the 14 scores and
a domain with reasoning; ``rater_prompt`` is the short prompt the fine-tuned DataMan raters answer
with ``<domain letter>`` and then one score per line. Texts are truncated as DataMan does before
rating: longer than 20,000 characters, the first and last 10,000 are kept; then, as the raters'
1,894-token limit, the first and last 947 whitespace tokens joined by "..." (DataMan counts Qwen
tokens; whitespace tokens are about 1.3 Qwen tokens each in English, so this keeps somewhat more).
"""

from __future__ import annotations

PROMPT_VERSION = "dataman-en-1"

# (column, name in the prompts, what the teacher is told: "the higher the score, ...")
CRITERIA = (
    ("accuracy", "Accuracy", "the fewer grammar, referential and spelling errors the text contains, and the more accurate its expression."),
    ("coherence", "Coherence", "the more fluent the content is, and the stronger its logical coherence."),
    ("language_consistency", "Language Consistency", "the more consistent the use of language is, and the less it mixes languages."),
    ("semantic_density", "Semantic Density", "the greater the proportion of valid information, and the less irrelevant or redundant information."),
    ("knowledge_novelty", "Knowledge Novelty", "the more novel and cutting-edge the knowledge, and the more insightful the views on the industry or topic."),
    ("topic_focus", "Topic Focus", "the more the content focuses on the topic, and the less it deviates from the main theme."),
    ("creativity", "Creativity", "the more creative elements the expression shows."),
    ("professionalism", "Professionalism", "the more professional terminology it uses, used accurately, and the more professional its domain-specific expression."),
    ("style_consistency", "Style Consistency", "the more consistent the style, with proper and appropriate style transitions."),
    ("grammatical_diversity", "Grammatical Diversity", "the more varied and correct the grammatical structures."),
    ("structural_standardization", "Structural Standardization", "the clearer the structure, and the more standardized the format."),
    ("originality", "Originality", "the fewer repetitions and similar content."),
    ("sensitivity", "Sensitivity", "the more appropriately sensitive topics are handled, and the less inappropriate content."),
    ("overall_score", "Overall Score", "the better the comprehensive evaluation, and the better the text performs in all aspects."),
)
COLUMNS = tuple(column for column, _, _ in CRITERIA)

DOMAINS = {
    "A": "Medicine", "B": "Finance", "C": "Law", "D": "Education", "E": "Technology", "F": "Entertainment",
    "G": "Mathematics", "H": "Coding", "I": "Government", "J": "Culture", "K": "Transportation",
    "L": "Retail E-commerce", "M": "Telecommunication", "N": "Agriculture", "O": "Other",
}

ANNOTATION_SYSTEM = ("You are an expert to evaluate the text quality with high accuracy and confidence. Don't hesitate "
                     "to use the full range of the score scale, including extreme scores if the text warrants it.")
RATER_SYSTEM = "You are a helpful assistant."

MAX_CHARS = 20_000
MAX_TOKENS = 1894


def truncate(text: str) -> str:
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS // 2] + text[-MAX_CHARS // 2 :]
    tokens = text.split()
    if len(tokens) > MAX_TOKENS:
        half = MAX_TOKENS // 2
        text = " ".join(tokens[:half]) + " ... " + " ".join(tokens[-half:])
    return text


def annotation_prompt(text: str) -> list[dict]:
    """Chat messages for the teacher: the 14 criteria with their meaning, the 15 domains."""
    domains = "\n".join(f"[{letter}]{name}" for letter, name in DOMAINS.items())
    criteria = "\n".join(f"[{i}]{name}: the higher the score, {meaning} _/5"
                         for i, (_, name, meaning) in enumerate(CRITERIA, start=1))
    user = ("Please carefully read the text below, score it based on fourteen evaluation criteria, each from 1 to 5, "
            "and select the most appropriate category from the fifteen domain types. Let's think step by step.\n"
            f"Text: {truncate(text)}\nDomain Types: {domains}\nEvaluation Criteria:\n{criteria}\n"
            "End your answer with the domain as [letter] and the fourteen scores in the form [n]Name: score/5.")
    return [{"role": "system", "content": ANNOTATION_SYSTEM}, {"role": "user", "content": user}]


def rater_prompt(text: str) -> list[dict]:
    """Chat messages for a DataMan rater (the published fine-tuned models answer these)."""
    criteria = "\n".join(f"[{i}]{name}:_/5" for i, (_, name, _) in enumerate(CRITERIA, start=1))
    user = f"Please score the text on fourteen evaluation criteria and specify its domain:\nText: {truncate(text)}\nDomain:_\n{criteria}"
    return [{"role": "system", "content": RATER_SYSTEM}, {"role": "user", "content": user}]
