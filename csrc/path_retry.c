/* Other paths, when GnuTLS refused the one it followed.
 *
 * GnuTLS builds one path through the presented certificates. When that path
 * breaks a CA's constraints or ends nowhere, another path the presented
 * certificates allow may be good; and GnuTLS counts self-issued CAs against
 * pathLenConstraint, which RFC 5280 (6.1.4) does not. Both retries run only
 * after a refusal, so a good chain costs nothing here. */
#include "verify.h"

#include <string.h>

/* The path as GnuTLS's trust list wants it: without an anchor it adds
 * itself. Its names' cost is bounded first, as the first path's is. */
int mutls__path_verifies(const mutls_path *p, const mutls_config *cfg,
	gnutls_typed_vdata_st *vdata, unsigned nvdata, unsigned flags)
{
	gnutls_x509_crt_t alt[MUTLS_PATH_MAX];
	unsigned status = 0;
	size_t m = p->anchored && !p->anchor_in_chain ? p->n - 1 : p->n;
	char why[400];

	if (!p->anchored || mutls__path_too_costly(why, sizeof(why), p))
		return 0;
	memcpy(alt, p->crt, m * sizeof(alt[0]));
	return gnutls_x509_trust_list_verify_crt2(cfg->tlist, alt, (unsigned)m, vdata, nvdata, flags,
		&status, NULL) >= 0 && status == 0;
}

static int has_self_issued_ca(const mutls_path *p)
{
	for (size_t k = 1; k + 1 < p->n; k++)
		if (mutls__crt_self_issued(p->crt[k]))
			return 1;
	return 0;
}

/* A path's anchor label points into the path itself (path_fill): moved
 * with it, it must point into its new place. */
static void relabel(mutls_path *p)
{
	if (p->anchor && p->n)
		p->label[p->n - 1] = p->anchor_label;
}

void mutls__path_take(mutls_path *paths, size_t i)
{
	mutls_path keep = paths[i];

	paths[i] = paths[0];
	paths[0] = keep;
	relabel(&paths[0]);
	relabel(&paths[i]);
}

int mutls__paths_retry(mutls_path *paths, size_t npaths, const mutls_config *cfg,
	gnutls_typed_vdata_st *vdata, unsigned nvdata, unsigned flags, unsigned *io_status)
{
	unsigned status = *io_status;

	/* each path as it stands: the first that passes is taken */
	if (status & (GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE | GNUTLS_CERT_SIGNER_NOT_FOUND)) {
		for (size_t i = 0; i < npaths; i++) {
			if (!mutls__path_has_unreadable_nc(&paths[i]) &&
			    mutls__path_verifies(&paths[i], cfg, vdata, nvdata, flags)) {
				mutls__path_take(paths, i);
				*io_status = 0;
				return 1;
			}
		}
	}
	/* a path length broken only by counting self-issued CAs: GnuTLS checks
	 * again without its CA rules (signatures, name constraints and the
	 * rest still checked) and mutls applies them itself */
	if (status == (GNUTLS_CERT_INVALID | GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE)) {
		for (size_t i = 0; i < npaths; i++) {
			if (!has_self_issued_ca(&paths[i]) || mutls__path_has_unreadable_nc(&paths[i]) ||
			    !mutls__path_ca_rules_ok(&paths[i]))
				continue;
			if (mutls__path_verifies(&paths[i], cfg, vdata, nvdata,
					flags | GNUTLS_VERIFY_DISABLE_CA_SIGN)) {
				mutls__path_take(paths, i);
				*io_status = 0;
				return 1;
			}
		}
	}
	/* a CA's name constraints with subtrees GnuTLS cannot read (an
	 * otherName): verified in two parts around it (nc_unreadable.c); a
	 * path refused that way for another reason (revoked) is told as such */
	if (status == (GNUTLS_CERT_INVALID | GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE)) {
		size_t told = npaths;
		unsigned verdict = 0;
		for (size_t i = 0; i < npaths; i++) {
			unsigned split = 0;
			if (!mutls__path_verify_past_unreadable_nc(&paths[i], cfg, vdata, nvdata, flags, &split))
				continue;
			if (split == 0) {
				mutls__path_take(paths, i);
				*io_status = 0;
				return 1;
			}
			if (told == npaths) {
				told = i;
				verdict = split;
			}
		}
		if (told < npaths) {
			mutls__path_take(paths, told);
			*io_status = verdict;
			return 1;
		}
	}
	return 0;
}
