/* The JSONL records reader (mmf_recfile): the field rules every caller relies
 * on, and the errors that must name the file, the line and the field. */
#include "test_util.h"

static mmf_recfile *parse(const char *text, const mmf_recfile_params *p) {
    mmf_recfile *f = NULL;
    CHECK_OK(mmf_recfile_parse(text, strlen(text), "data/r.jsonl", p, &f));
    return f;
}

static void expect_fail(const char *text, const char *needle) {
    mmf_recfile *f = NULL;
    mmf_status s = mmf_recfile_parse(text, strlen(text), "data/r.jsonl", NULL, &f);
    CHECK_MSG(s != MMF_OK && f == NULL, "accepted: %s", text);
    CHECK_MSG(strstr(mmf_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"", mmf_last_error(), needle);
}

int main(void) {
    const char *text =
        "{\"id\": \"a\", \"text\": \"hello\", \"image\": \"x.png\", \"label\": \"cat\", \"tags\": [\"t1\", 3, \"\", \"t2\"]}\n"
        "\r\n"
        "   \n"
        "{\"id\": 7, \"text\": [\"two\", \"\", \"words\"], \"image\": \"/abs/y.png\", \"label\": 2, \"tags\": \"solo\"}\r\n"
        "{\"text\": \"\", \"image\": \"\", \"label\": null, \"id\": true}\n"
        "{\"text\": [\"\", \"\"], \"label\": [1], \"other\": {\"x\": 1}}";   /* no final newline */
    mmf_recfile *f = parse(text, NULL);
    if (!f) return t_done("test_recfile");
    CHECK(mmf_recfile_count(f) == 4);
    CHECK(!strcmp(mmf_recfile_path(f), "data/r.jsonl"));
    long lines[4] = {1, 4, 5, 6};
    for (size_t i = 0; i < 4; i++) CHECK_MSG(mmf_recfile_line(f, i) == lines[i], "record %zu from line %ld", i, mmf_recfile_line(f, i));
    /* texts: a string, an array joined by single spaces (empty items skipped), empty = absent */
    CHECK(!strcmp(mmf_recfile_text(f, 0), "hello"));
    CHECK(!strcmp(mmf_recfile_text(f, 1), "two words"));
    CHECK(mmf_recfile_text(f, 2) == NULL && mmf_recfile_text(f, 3) == NULL);
    /* images: relative to the records file's folder, absolute kept, "" and missing absent */
    CHECK(!strcmp(mmf_recfile_image(f, 0), "data/x.png"));
    CHECK(!strcmp(mmf_recfile_image(f, 1), "/abs/y.png"));
    CHECK(mmf_recfile_image(f, 2) == NULL && mmf_recfile_image(f, 3) == NULL);
    /* labels and ids as the file gives them */
    const char *str;
    double num;
    CHECK(mmf_recfile_label(f, 0, &str, &num) == MMF_FIELD_STRING && !strcmp(str, "cat"));
    CHECK(mmf_recfile_label(f, 1, &str, &num) == MMF_FIELD_NUMBER && num == 2.0 && str == NULL);
    CHECK(mmf_recfile_label(f, 2, &str, &num) == MMF_FIELD_ABSENT);
    CHECK(mmf_recfile_label(f, 3, NULL, NULL) == MMF_FIELD_OTHER);
    CHECK(mmf_recfile_id(f, 0, &str, NULL) == MMF_FIELD_STRING && !strcmp(str, "a"));
    CHECK(mmf_recfile_id(f, 1, NULL, &num) == MMF_FIELD_NUMBER && num == 7.0);
    CHECK(mmf_recfile_id(f, 2, NULL, NULL) == MMF_FIELD_OTHER);
    CHECK(mmf_recfile_id(f, 3, NULL, NULL) == MMF_FIELD_ABSENT);
    /* tags: the non-empty strings of an array, or one string */
    const char *const *tags;
    CHECK(mmf_recfile_tags(f, 0, &tags) == 2 && !strcmp(tags[0], "t1") && !strcmp(tags[1], "t2"));
    CHECK(mmf_recfile_tags(f, 1, &tags) == 1 && !strcmp(tags[0], "solo"));
    CHECK(mmf_recfile_tags(f, 2, &tags) == 0);
    mmf_recfile_free(f);

    /* other field names; a field not asked for is not read (a wrong type there is no error) */
    mmf_recfile_params p = {.text_field = "caption", .id_field = "key"};
    f = parse("{\"caption\": \"a b\", \"key\": 3, \"text\": 5, \"image\": 1, \"tags\": 2}\n", &p);
    if (f) {
        CHECK(!strcmp(mmf_recfile_text(f, 0), "a b") && mmf_recfile_image(f, 0) == NULL);
        CHECK(mmf_recfile_id(f, 0, NULL, &num) == MMF_FIELD_NUMBER && num == 3.0);
        CHECK(mmf_recfile_label(f, 0, NULL, NULL) == MMF_FIELD_ABSENT);
    }
    mmf_recfile_free(f);
    /* an empty file holds no records (the callers decide whether that is an error) */
    f = parse("", NULL);
    if (f) CHECK(mmf_recfile_count(f) == 0);
    mmf_recfile_free(f);
    /* a line ends at its first NUL */
    mmf_recfile *g = NULL;
    const char nul[] = "{\"text\": \"x\"}\0garbage\n{\"text\": \"y\"}\n";
    CHECK_OK(mmf_recfile_parse(nul, sizeof nul - 1, "n.jsonl", NULL, &g));
    if (g) CHECK(mmf_recfile_count(g) == 2 && !strcmp(mmf_recfile_text(g, 1), "y"));
    mmf_recfile_free(g);

    /* errors name the file, the line and the field */
    expect_fail("{\"text\": \"x\"}\nnot json\n", "data/r.jsonl:2: expected one JSON object per line");
    expect_fail("[1, 2]\n", "data/r.jsonl:1: expected one JSON object per line");
    expect_fail("{\"text\": \"x\"} {\"text\": \"y\"}\n", "data/r.jsonl:1: expected one JSON object per line");
    expect_fail("\n\n{\"text\": 7}\n", "data/r.jsonl:3: field \"text\": expected a string or an array of strings");
    expect_fail("{\"text\": [\"a\", 1]}\n", "field \"text\": expected a string or an array of strings");
    expect_fail("{\"image\": 5}\n", "data/r.jsonl:1: field \"image\": expected an image path (a string)");
    expect_fail("{\"tags\": 5}\n", "data/r.jsonl:1: \"tags\" should be an array of strings or a string");
    f = NULL;
    mmf_status s = mmf_recfile_load("/nonexistent/r.jsonl", NULL, &f);
    CHECK(s != MMF_OK && f == NULL && strstr(mmf_last_error(), "/nonexistent/r.jsonl"));
    return t_done("test_recfile");
}
