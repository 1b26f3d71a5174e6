"""OpenSearch request bodies checked offline against the documented formats.

No OpenSearch server installs from the registries these machines reach, so these schemas, written
from the OpenSearch documentation, are what is checked here: the k-NN vector field with an HNSW
method definition (docs.opensearch.org/latest/mappings/supported-field-types/knn-vector/), the
`knn` query (docs.opensearch.org/latest/query-dsl/specialized/k-nn/) and bulk index actions
(opensearch-py `helpers.bulk`). Against a real cluster, set OPENSEARCH_URL: the
`opensearch_index` asset and `OpenSearchStore` then run for real (not done on this machine).
"""

import jsonschema
import numpy as np
import pytest

from dream_assets.lib.stores.opensearch import bulk_actions, index_body, knn_query

POSITIVE = {"type": "integer", "minimum": 1}
INDEX_SCHEMA = {
    "type": "object",
    "required": ["settings", "mappings"],
    "properties": {
        "settings": {
            "type": "object",
            "required": ["index"],
            "properties": {
                "index": {
                    "type": "object",
                    "required": ["knn"],
                    "properties": {
                        "knn": {"const": True},
                        "refresh_interval": {"type": "string", "pattern": r"^(-1|\d+(ms|s|m))$"},
                        "number_of_shards": POSITIVE,
                        "number_of_replicas": {"type": "integer", "minimum": 0},
                    },
                }
            },
        },
        "mappings": {
            "type": "object",
            "required": ["properties"],
            "properties": {
                "properties": {
                    "type": "object",
                    "required": ["embedding"],
                    "properties": {
                        "embedding": {
                            "type": "object",
                            "required": ["type", "dimension", "method"],
                            "additionalProperties": False,
                            "properties": {
                                "type": {"const": "knn_vector"},
                                "dimension": {"type": "integer", "minimum": 1, "maximum": 16000},
                                "method": {
                                    "type": "object",
                                    "required": ["name", "engine"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "name": {"const": "hnsw"},
                                        "space_type": {"enum": ["l2", "cosinesimil", "innerproduct", "l1", "linf"]},
                                        "engine": {"enum": ["faiss", "lucene"]},  # nmslib: deprecated
                                        "parameters": {
                                            "type": "object",
                                            "additionalProperties": False,
                                            "properties": {"m": POSITIVE, "ef_construction": POSITIVE},
                                        },
                                    },
                                },
                            },
                        }
                    },
                }
            },
        },
    },
}
QUERY_SCHEMA = {
    "type": "object",
    "required": ["size", "query"],
    "properties": {
        "size": POSITIVE,
        "query": {
            "type": "object",
            "required": ["knn"],
            "additionalProperties": False,
            "properties": {
                "knn": {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "additionalProperties": {
                        "type": "object",
                        "required": ["vector", "k"],
                        "additionalProperties": False,
                        "properties": {
                            "vector": {"type": "array", "items": {"type": "number"}, "minItems": 1},
                            "k": POSITIVE,
                            "method_parameters": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {"ef_search": POSITIVE},
                            },
                        },
                    },
                }
            },
        },
    },
}
ACTION_SCHEMA = {
    "type": "object",
    "required": ["_op_type", "_index", "_id", "_source"],
    "properties": {"_op_type": {"const": "index"}, "_index": {"type": "string"}, "_id": {"type": "string"}},
}


@pytest.mark.parametrize("engine", ["faiss", "lucene"])
def test_index_body_is_a_documented_knn_mapping(engine):
    body = index_body(768, engine=engine)
    jsonschema.validate(body, INDEX_SCHEMA)
    method = body["mappings"]["properties"]["embedding"]["method"]
    assert method["parameters"] == {"m": 16, "ef_construction": 256} and method["space_type"] == "l2"
    assert body["settings"]["index"]["refresh_interval"] == "-1"  # off during the bulk load


def test_the_schema_rejects_what_opensearch_rejects():
    body = index_body(384)
    body["mappings"]["properties"]["embedding"]["method"]["engine"] = "nmslib"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, INDEX_SCHEMA)
    with pytest.raises(ValueError, match="dimensions"):
        index_body(0)


def test_knn_query_and_bulk_actions_match_the_documented_formats():
    vectors = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    query = knn_query(vectors[0], 10, ef_search=100)
    jsonschema.validate(query, QUERY_SCHEMA)
    assert query["query"]["knn"]["embedding"]["vector"] == pytest.approx(vectors[0].tolist())
    actions = list(bulk_actions("oscar", ["a:0", "a:900", "b:0"], ["x", "y", "z"], vectors, [{"url": "u"}] * 3))
    for action in actions:
        jsonschema.validate(action, ACTION_SCHEMA)
    assert [a["_id"] for a in actions] == ["a:0", "a:900", "b:0"]  # a re-run overwrites by chunk id
    assert actions[1]["_source"]["url"] == "u" and len(actions[2]["_source"]["embedding"]) == 8
