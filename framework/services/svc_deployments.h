/*
 * svc_deployments: deployment records and app definitions for the
 * agora-services core (svc.c): a deployment's start (deployment_info), its
 * failure and success (events, metrics), the failure count of an upgrade and
 * the automatic rollback it triggers, rollbacks, the JSON of a deployment
 * (/v2/deployments, events), and the app definition with its version history
 * in the store.
 *
 * Callers: svc.c (convergence, task ends, the API's operations) and api.c
 * (svcd_json). It calls only app.c, store.c, events.c and common/ (never svc.c
 * functions): it reads and writes the state through struct svc's fields.
 * Loop thread only. A store failure is fatal (svc.h). Deployments are owned
 * by s->deps and their app (app->dep); svcd_failed and a successful
 * svcd_succeeded free `dep`.
 */
#ifndef AGORA_SERVICES_SVC_DEPLOYMENTS_H
#define AGORA_SERVICES_SVC_DEPLOYMENTS_H

#include "svc.h"

/*
 * Starts a deployment of `kind` for `app` towards its current definition;
 * `original` (taken; NULL for a new app) is the definition before it,
 * `rollback_of` (may be NULL) the deployment it rolls back. Persists it,
 * emits deployment_info and marks the state dirty.
 */
struct svc_dep *svcd_new(struct svc *s, struct svc_app *app, enum svc_dep_kind kind,
                         json_t *original, const char *rollback_of);
/* Records the deployment after a change of `failures`. */
void svcd_persist(struct svc *s, const struct svc_dep *dep);
/* Ends the deployment as failed (deployment_failed) and frees it. */
void svcd_failed(struct svc *s, struct svc_dep *dep, const char *reason);
/*
 * Ends the deployment as done (deployment_step_success, deployment_success)
 * and frees it. Returns true for a STOP: the caller then removes the app.
 */
bool svcd_succeeded(struct svc *s, struct svc_dep *dep);
/*
 * Counts `n` failures of new-version tasks of an upgrade or restart, and rolls
 * it back once they reach --rollback_failures (with --auto_rollback).
 */
void svcd_add_failures(struct svc *s, struct svc_dep *dep, int n);
/* Back to the definition before `dep` (or a STOP for a new app): `dep` fails
 * with `reason` and the new deployment is returned. */
struct svc_dep *svcd_rollback(struct svc *s, struct svc_dep *dep, const char *reason);
/* Frees a deployment without any record or event (shutdown). */
void svcd_free(struct svc_dep *dep);
/* Loads one stored deployment (store_dep_load's callback shape); one whose app
 * is missing or busy is deleted. */
void svcd_load(struct svc *s, const char *id, const char *json);

/* A new reference: the deployment as /v2/deployments shows it. */
json_t *svcd_json(const struct svc_dep *dep);

/* Stores the app's definition and lastTaskFailure. */
void svcd_app_persist(struct svc *s, const struct svc_app *app);
/* Makes `spec` (taken) the app's definition and records its version (keeping
 * --max_versions). */
void svcd_app_set_spec(struct svc *s, struct svc_app *app, struct app_spec *spec);

#endif
