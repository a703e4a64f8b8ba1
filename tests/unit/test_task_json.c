#include "test.h"

#include "resources.h"
#include "task_json.h"

#include <string.h>

/* The fields the master's and the agent's /state share: Mesos' task shape. */
static void
test_task(void)
{
    struct msg_task_info info;
    struct msg_task_status st;
    struct msg_kv labels[] = {{"team", "web"}, {"tier", "front"}};
    char err[128];
    json_t *t, *s;

    memset(&info, 0, sizeof(info));
    memset(&st, 0, sizeof(st));
    res_init(&info.resources);
    CHECK_EQ_INT(res_parse(&info.resources, "cpus:0.5;mem:64", err, sizeof(err)), 0);
    info.task_id = "t1";
    info.name = "web";
    info.executor_id = NULL; /* NULL strings render as "" */
    info.labels = labels;
    info.nlabels = 2;
    info.command.user = "nobody";
    info.container.image = "busybox";
    info.has_health_check = true;
    info.health_check.type = "HTTP";
    info.health_check.path = "/ok";
    info.health_check.port = 8080;
    info.health_check.interval_s = 5;
    st.task_id = "t1";
    st.state = MSG_TASK_RUNNING;
    st.timestamp = 1700000000.5;
    st.source = "SOURCE_EXECUTOR";
    st.uuid = "u-1";
    st.reason = "";
    st.message = "started";
    st.healthy = MSG_TRI_TRUE;

    t = task_json_new(&info, &st, MSG_TASK_RUNNING, "fw-1", "ag-1");
    CHECK(t != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(t, "id")), "t1");
    CHECK_EQ_STR(json_string_value(json_object_get(t, "name")), "web");
    CHECK_EQ_STR(json_string_value(json_object_get(t, "framework_id")), "fw-1");
    CHECK_EQ_STR(json_string_value(json_object_get(t, "executor_id")), "");
    CHECK_EQ_STR(json_string_value(json_object_get(t, "slave_id")), "ag-1");
    CHECK_EQ_STR(json_string_value(json_object_get(t, "agent_id")), "ag-1");
    CHECK_EQ_STR(json_string_value(json_object_get(t, "state")), "TASK_RUNNING");
    CHECK(json_number_value(json_object_get(json_object_get(t, "resources"), "cpus")) == 0.5);
    CHECK(json_number_value(json_object_get(json_object_get(t, "resources"), "mem")) == 64);
    CHECK(json_is_true(json_object_get(t, "healthy")));
    CHECK_EQ_STR(json_string_value(json_object_get(t, "user")), "nobody");
    CHECK_EQ_INT(json_array_size(json_object_get(t, "labels")), 2);
    CHECK_EQ_STR(json_string_value(
                     json_object_get(json_array_get(json_object_get(t, "labels"), 1), "value")),
                 "front");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(t, "container"), "image")),
                 "busybox");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(t, "container"), "network")),
                 "host");
    s = json_object_get(t, "health_check");
    CHECK_EQ_STR(json_string_value(json_object_get(s, "type")), "HTTP");
    CHECK(json_number_value(json_object_get(s, "interval_seconds")) == 5);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(s, "http"), "port")), 8080);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(s, "http"), "path")), "/ok");
    CHECK_EQ_INT(json_array_size(json_object_get(t, "statuses")), 1);
    s = json_array_get(json_object_get(t, "statuses"), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(s, "state")), "TASK_RUNNING");
    CHECK(json_number_value(json_object_get(s, "timestamp")) == 1700000000.5);
    CHECK_EQ_STR(json_string_value(json_object_get(s, "source")), "SOURCE_EXECUTOR");
    CHECK_EQ_STR(json_string_value(json_object_get(s, "uuid")), "u-1");
    CHECK_EQ_STR(json_string_value(json_object_get(s, "message")), "started");
    CHECK(json_object_get(s, "reason") == NULL); /* "" is left out */
    CHECK(json_is_true(json_object_get(s, "healthy")));
    json_decref(t);
    res_fini(&info.resources);
}

/* A task with no status yet, no image, no health check, no labels. */
static void
test_bare(void)
{
    struct msg_task_info info;
    json_t *t;

    memset(&info, 0, sizeof(info));
    res_init(&info.resources);
    info.task_id = "t2";
    t = task_json_new(&info, NULL, MSG_TASK_STAGING, "fw", "ag");
    CHECK(t != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(t, "state")), "TASK_STAGING");
    CHECK_EQ_STR(json_string_value(json_object_get(t, "name")), "");
    CHECK_EQ_INT(json_array_size(json_object_get(t, "statuses")), 0);
    CHECK_EQ_INT(json_array_size(json_object_get(t, "labels")), 0);
    CHECK(json_object_get(t, "container") == NULL);
    CHECK(json_object_get(t, "health_check") == NULL);
    CHECK(json_object_get(t, "healthy") == NULL);
    CHECK(json_object_get(t, "user") == NULL);
    json_decref(t);
    res_fini(&info.resources);
}

TEST_LIST(TEST_ENTRY(task), TEST_ENTRY(bare));
TEST_MAIN()
