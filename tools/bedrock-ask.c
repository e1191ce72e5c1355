/* bedrock-ask: one Bedrock call through dual-nova's own wire layer, from the command line.
 *
 * The operator's check that credentials, region, model access and the network path work before
 * the services are started, and the developer's way to poke the simulator: it uses exactly the
 * code the workers use (config, credential chain, SigV4, libcurl multi, event-stream decoder).
 *
 *   tools/bedrock-ask [--micro | --pro | --model ID] [--converse] [--system TEXT]
 *                     [--max-tokens N] [--temperature T] [--print-config] MESSAGE
 *   tools/bedrock-ask --retrieve KB_ID QUERY
 *
 * Text goes to stdout as it streams; a summary (stop reason, usage, timings, request id) or the
 * typed error goes to stderr. Exit 0 on success, 1 on a Bedrock error, 2 on bad usage. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_config.h"
#include "aws/bedrock.h"
#include "core/config.h"
#include "core/log.h"

static int exit_code = 0;

static void on_delta(void *user, const char *text, size_t len)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

static void on_done(void *user, const struct bedrock_result *r)
{
    (void)user;
    if (r->text)
        fwrite(r->text, 1, r->text_len, stdout);
    for (size_t i = 0; i < r->n_passages; i++)
        printf("%.3f  %s  %s\n    %.200s\n", r->passages[i].score, r->passages[i].title,
               r->passages[i].url, r->passages[i].text);
    printf("\n");
    if (r->err.code != BR_OK) {
        fprintf(stderr, "error: %s (%s%s, HTTP %d): %s\n", bedrock_error_name(r->err.code),
                r->err.type[0] ? r->err.type : "no AWS type",
                r->err.retryable ? ", retryable" : "", r->err.http_status, r->err.message);
        exit_code = 1;
    }
    fprintf(stderr,
            "stop_reason: %s\ninput_tokens: %ld\noutput_tokens: %ld\ncache_read_tokens: %ld\n"
            "cache_write_tokens: %ld\nttft_ms: %.1f\nelapsed_ms: %.1f\nbedrock_latency_ms: %ld\n"
            "deltas: %lu\nrequest_id: %s\n",
            r->stop_reason[0] ? r->stop_reason : "-", r->usage.input_tokens,
            r->usage.output_tokens, r->usage.cache_read_tokens, r->usage.cache_write_tokens,
            r->ttft_ms, r->elapsed_ms, r->latency_ms, r->deltas,
            r->request_id[0] ? r->request_id : "-");
}

static void usage(void)
{
    fprintf(stderr, "usage: bedrock-ask [--micro|--pro|--model ID] [--converse] [--system TEXT]\n"
                    "                   [--max-tokens N] [--temperature T] [--print-config] MESSAGE\n"
                    "       bedrock-ask --retrieve KB_ID QUERY\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct nova_config cfg;
    static struct aws_config aws;
    char err[1024];
    if (config_from_env(&cfg, err, sizeof err) < 0 ||
        aws_config_from_env(&aws, err, sizeof err) < 0) {
        fprintf(stderr, "bedrock-ask: %s\n", err);
        return 2;
    }
    log_init(argv[0], cfg.log_level);
    const char *model = cfg.micro_model, *system = NULL, *kb = NULL;
    int max_tokens = 1024, converse = 0, print_config = 0;
    double temperature = 0.3;
    static const struct option opts[] = {
        {"micro", no_argument, NULL, 'm'},      {"pro", no_argument, NULL, 'p'},
        {"model", required_argument, NULL, 'M'}, {"converse", no_argument, NULL, 'c'},
        {"system", required_argument, NULL, 's'}, {"max-tokens", required_argument, NULL, 'n'},
        {"temperature", required_argument, NULL, 't'}, {"retrieve", required_argument, NULL, 'r'},
        {"print-config", no_argument, NULL, 'P'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'm': model = cfg.micro_model; break;
        case 'p': model = cfg.pro_model; break;
        case 'M': model = optarg; break;
        case 'c': converse = 1; break;
        case 's': system = optarg; break;
        case 'n': max_tokens = atoi(optarg); break;
        case 't': temperature = atof(optarg); break;
        case 'r': kb = optarg; break;
        case 'P': print_config = 1; break;
        default: usage();
        }
    }
    if (print_config) {
        config_print(&cfg, stderr);
        aws_config_print(&aws, stderr);
    }
    if (optind != argc - 1)
        usage();
    if (cfg.backend == BACKEND_SIM && !getenv("NOVA_BEDROCK_ENDPOINT"))
        fprintf(stderr, "bedrock-ask: NOVA_BACKEND=sim: set NOVA_BEDROCK_ENDPOINT (and "
                        "NOVA_KB_ENDPOINT) to the simulator's URL, or NOVA_BACKEND=bedrock\n");

    struct creds_provider *cp = creds_provider_new(&aws.creds, err, sizeof err);
    if (!cp) {
        fprintf(stderr, "bedrock-ask: no AWS credentials: %s\n", err);
        return 1;
    }
    struct bedrock_client *c = bedrock_client_new(&aws.bedrock, cp, err, sizeof err);
    if (!c) {
        fprintf(stderr, "bedrock-ask: %s\n", err);
        creds_provider_free(cp);
        return 2;
    }
    struct bedrock_callbacks cb = {on_delta, on_done};
    struct bedrock_message msg = {"user", argv[optind]};
    struct bedrock_converse_req req = {.model_id = model, .system = system,
                                       .cache_point = system != NULL, .messages = &msg,
                                       .n_messages = 1, .max_tokens = max_tokens,
                                       .temperature = temperature, .top_p = 0.9};
    if (kb)
        bedrock_retrieve(c, kb, argv[optind], 5, &cb, NULL);
    else if (converse)
        bedrock_converse(c, &req, &cb, NULL);
    else
        bedrock_converse_stream(c, &req, &cb, NULL);
    while (bedrock_client_active(c) > 0)
        if (bedrock_client_wait(c, 1000, err, sizeof err) < 0) {
            fprintf(stderr, "bedrock-ask: %s\n", err);
            exit_code = 1;
            break;
        }
    bedrock_client_free(c);
    creds_provider_free(cp);
    return exit_code;
}
