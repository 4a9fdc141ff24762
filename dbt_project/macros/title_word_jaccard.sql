{#-
    Jaccard similarity of the word sets of two titles: |common words| / |all words|, words being
    the lower-cased runs of letters and digits. Null when either title is null or has no word.
-#}
{% macro title_word_jaccard(left_title, right_title) -%}
    {{ return(adapter.dispatch('title_word_jaccard', 'newsimpact')(left_title, right_title)) }}
{%- endmacro %}

{% macro default__title_word_jaccard(left_title, right_title) -%}
    {{ exceptions.raise_compiler_error("title_word_jaccard has no implementation for " ~ target.type) }}
{%- endmacro %}

{% macro duckdb__title_word_jaccard(left_title, right_title) -%}
    {%- set left_words = "list_distinct(list_filter(regexp_split_to_array(lower(" ~ left_title ~ "), '[^a-z0-9]+'), lambda word: word <> ''))" -%}
    {%- set right_words = "list_distinct(list_filter(regexp_split_to_array(lower(" ~ right_title ~ "), '[^a-z0-9]+'), lambda word: word <> ''))" -%}
    (len(list_intersect({{ left_words }}, {{ right_words }}))
        / nullif(len(list_distinct(list_concat({{ left_words }}, {{ right_words }}))), 0))
{%- endmacro %}
