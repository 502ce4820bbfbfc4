/*
 * mock_broker: librdkafka's mock Kafka cluster in a process of its own, for tests.
 *
 *   cc -O2 -Wall -Wextra -Werror test/kafka/mock_broker.c -lrdkafka -o build/mock_broker
 *   build/mock_broker [-b BROKERS] [-t TOPIC:PARTITIONS]... [-d DEBUG] [-k]
 *
 * Real Kafka clients (kcat, confluent_kafka, our worker) connect to it over TCP on
 * 127.0.0.1. As soon as it listens it prints one line to stdout:
 *
 *   BOOTSTRAP 127.0.0.1:PORT[,127.0.0.1:PORT...]
 *
 * then reads commands from stdin, one per line, and answers each with exactly one
 * line on stdout, `OK <command>[ <result>]` or `ERR <command>: <reason>`:
 *
 *   ping                     OK ping
 *   topic NAME PARTITIONS    create a topic (replication factor 1)
 *   down [BROKER_ID]         disconnect all (or one) brokers and refuse new connections
 *   up [BROKER_ID]           accept connections again
 *   rtt MS [BROKER_ID]       add MS of round-trip delay to every response (0 = none)
 *   bootstrap                OK bootstrap 127.0.0.1:PORT,...
 *   quit                     OK quit, then exit
 *
 * It exits (status 0) on SIGTERM, SIGINT, SIGHUP, EOF on stdin or `quit`, and, unless
 * -k is given, when its parent process exits (PR_SET_PDEATHSIG), so that a test script
 * that dies without cleaning up does not leave it behind. librdkafka's own log lines go
 * to stderr (-d mock,protocol,... enables its debug contexts).
 *
 * Limits of the mock (librdkafka 2.0.2, hard-coded, no setting): a partition log keeps
 * at most 5 MiB or 100000 message sets; older message sets are dropped (the low
 * watermark advances). Use several partitions for volume tests.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static rd_kafka_mock_cluster_t *mcluster;
static int broker_cnt = 1;

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    fputs("mock_broker: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* Parses a non-negative int in [lo, hi]; returns -1 if invalid. */
static long parse_int(const char *s, long lo, long hi) {
    char *end;
    long v;
    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    return v;
}

static rd_kafka_resp_err_t create_topic(const char *name, int partitions) {
    return rd_kafka_mock_topic_create(mcluster, name, partitions, 1);
}

/* Applies fn to broker `id`, or to every broker (ids 1..broker_cnt) when id is -1. */
static rd_kafka_resp_err_t for_brokers(int32_t id,
                                       rd_kafka_resp_err_t (*fn)(rd_kafka_mock_cluster_t *, int32_t)) {
    rd_kafka_resp_err_t err;
    int32_t b;
    if (id != -1)
        return fn(mcluster, id);
    for (b = 1; b <= broker_cnt; b++)
        if ((err = fn(mcluster, b)))
            return err;
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static int rtt_ms_arg;
static rd_kafka_resp_err_t set_rtt(rd_kafka_mock_cluster_t *mc, int32_t id) {
    return rd_kafka_mock_broker_set_rtt(mc, id, rtt_ms_arg);
}

/* Optional broker id argument: -1 (all) if absent, -2 if invalid. */
static int32_t broker_arg(const char *s) {
    long v;
    if (!s)
        return -1;
    v = parse_int(s, 1, broker_cnt);
    return v < 0 ? -2 : (int32_t)v;
}

/* Handles one command line. Returns 1 to quit. */
static int handle(char *line) {
    char *argv[8];
    int argc = 0;
    char *save = NULL, *tok;
    char cmd[512];
    rd_kafka_resp_err_t err;

    /* The echo of the command in the answer: the line, blanks squeezed. */
    for (tok = strtok_r(line, " \t\r", &save); tok && argc < 8; tok = strtok_r(NULL, " \t\r", &save))
        argv[argc++] = tok;
    if (argc == 0)
        return 0; /* blank line: no answer */
    cmd[0] = '\0';
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(cmd);
        snprintf(cmd + len, sizeof(cmd) - len, "%s%s", i ? " " : "", argv[i]);
    }
    if (tok) {
        reply("ERR %s: too many arguments", cmd);
        return 0;
    }

    if (!strcmp(argv[0], "ping") && argc == 1) {
        reply("OK ping");
    } else if (!strcmp(argv[0], "quit") && argc == 1) {
        reply("OK quit");
        return 1;
    } else if (!strcmp(argv[0], "bootstrap") && argc == 1) {
        reply("OK bootstrap %s", rd_kafka_mock_cluster_bootstraps(mcluster));
    } else if (!strcmp(argv[0], "topic")) {
        long parts = argc == 3 ? parse_int(argv[2], 1, 100000) : -1;
        if (argc != 3 || parts < 1) {
            reply("ERR %s: usage: topic NAME PARTITIONS", cmd);
        } else if ((err = create_topic(argv[1], (int)parts))) {
            reply("ERR %s: %s", cmd, rd_kafka_err2str(err));
        } else {
            reply("OK %s", cmd);
        }
    } else if (!strcmp(argv[0], "down") || !strcmp(argv[0], "up")) {
        int32_t id = argc <= 2 ? broker_arg(argc == 2 ? argv[1] : NULL) : -2;
        if (id == -2) {
            reply("ERR %s: usage: %s [BROKER_ID 1..%d]", cmd, argv[0], broker_cnt);
        } else if ((err = for_brokers(id, argv[0][0] == 'd' ? rd_kafka_mock_broker_set_down
                                                             : rd_kafka_mock_broker_set_up))) {
            reply("ERR %s: %s", cmd, rd_kafka_err2str(err));
        } else {
            reply("OK %s", cmd);
        }
    } else if (!strcmp(argv[0], "rtt")) {
        long ms = argc >= 2 ? parse_int(argv[1], 0, 3600000) : -1;
        int32_t id = argc <= 3 ? broker_arg(argc == 3 ? argv[2] : NULL) : -2;
        if (ms < 0 || id == -2) {
            reply("ERR %s: usage: rtt MS [BROKER_ID 1..%d]", cmd, broker_cnt);
        } else {
            rtt_ms_arg = (int)ms;
            if ((err = for_brokers(id, set_rtt)))
                reply("ERR %s: %s", cmd, rd_kafka_err2str(err));
            else
                reply("OK %s", cmd);
        }
    } else {
        reply("ERR %s: unknown command (ping, topic NAME PARTITIONS, down [ID], up [ID], "
              "rtt MS [ID], bootstrap, quit)",
              cmd);
    }
    return 0;
}

/* librdkafka log lines to stderr, minus the warning that this handle has no
 * bootstrap.servers (it hosts the cluster and is never used as a client). */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *msg) {
    (void)rk;
    if (!strcmp(fac, "CONFWARN") && strstr(msg, "bootstrap.servers"))
        return;
    fprintf(stderr, "%%%d|%s|%s\n", level, fac, msg);
}

static void usage(void) {
    fprintf(stderr, "usage: mock_broker [-b BROKERS] [-t TOPIC:PARTITIONS]... [-d DEBUG] [-k]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *topics[256];
    int topic_cnt = 0;
    const char *debug = NULL;
    char errstr[512];
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    sigset_t sigs;
    int sfd, opt, quit = 0, keep = 0;
    pid_t parent = getppid();
    char buf[65536];
    size_t used = 0;

    while ((opt = getopt(argc, argv, "b:t:d:kh")) != -1) {
        switch (opt) {
        case 'b': {
            long n = parse_int(optarg, 1, 64);
            if (n < 1)
                die("-b: expected 1..64 brokers, got '%s'", optarg);
            broker_cnt = (int)n;
            break;
        }
        case 't':
            if (topic_cnt == (int)(sizeof(topics) / sizeof(topics[0])))
                die("too many -t");
            topics[topic_cnt++] = optarg;
            break;
        case 'd':
            debug = optarg;
            break;
        case 'k':
            keep = 1;
            break;
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();

    /* Signals: handled synchronously through a signalfd, blocked in every thread
     * (librdkafka's threads inherit this mask). A closed stdout must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &sigs, NULL) != 0)
        die("sigprocmask: %s", strerror(errno));
    if ((sfd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0)
        die("signalfd: %s", strerror(errno));
    if (!keep) {
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
            die("prctl: %s", strerror(errno));
        if (getppid() != parent) /* the parent died before prctl() */
            return 0;
    }

    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "client.id", "mock_broker", errstr, sizeof(errstr)) ||
        (debug && rd_kafka_conf_set(conf, "debug", debug, errstr, sizeof(errstr))))
        die("%s", errstr);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    /* The handle only hosts the cluster; it is never used as a client. */
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))))
        die("rd_kafka_new: %s", errstr);
    if (!(mcluster = rd_kafka_mock_cluster_new(rk, broker_cnt)))
        die("rd_kafka_mock_cluster_new failed");

    for (int i = 0; i < topic_cnt; i++) {
        char name[256];
        const char *colon = strrchr(topics[i], ':');
        long parts = colon ? parse_int(colon + 1, 1, 100000) : -1;
        size_t len = colon ? (size_t)(colon - topics[i]) : 0;
        rd_kafka_resp_err_t err;
        if (parts < 1 || len == 0 || len >= sizeof(name))
            die("-t: expected NAME:PARTITIONS, got '%s'", topics[i]);
        memcpy(name, topics[i], len);
        name[len] = '\0';
        if ((err = create_topic(name, (int)parts)))
            die("topic %s: %s", name, rd_kafka_err2str(err));
    }

    reply("BOOTSTRAP %s", rd_kafka_mock_cluster_bootstraps(mcluster));

    while (!quit) {
        struct pollfd pfd[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        ssize_t r;
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll: %s", strerror(errno));
        }
        if (pfd[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                fprintf(stderr, "mock_broker: signal %u, exiting\n", si.ssi_signo);
            break;
        }
        if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        r = read(STDIN_FILENO, buf + used, sizeof(buf) - 1 - used);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            die("read stdin: %s", strerror(errno));
        }
        if (r == 0) {
            if (used > 0) { /* last line without a newline */
                buf[used] = '\0';
                handle(buf);
            }
            break; /* EOF */
        }
        used += (size_t)r;
        for (;;) {
            char *nl = memchr(buf, '\n', used);
            size_t n;
            if (!nl) {
                if (used == sizeof(buf) - 1) { /* absurdly long line: drop it */
                    reply("ERR line too long");
                    used = 0;
                }
                break;
            }
            *nl = '\0';
            n = (size_t)(nl - buf) + 1;
            if (handle(buf)) {
                quit = 1;
                break;
            }
            memmove(buf, buf + n, used - n);
            used -= n;
        }
    }

    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(rk);
    return 0;
}
