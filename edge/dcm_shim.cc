/*
 * dcm_shim.cc: DCMTK behind the plain C API of dcm_shim.h. DcmSCU for the
 * SCU operations (echo, find, move, store), a DcmSCPPool of DcmThreadSCP
 * workers for the storage SCP. Every entry point catches all exceptions.
 */
#include "dcmtk/config/osconfig.h"

#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/dcmnet/scu.h"
#include "dcmtk/dcmnet/scppool.h"
#include "dcmtk/dcmnet/scpthrd.h"
#include "dcmtk/oflog/oflog.h"
#include "dcmtk/ofstd/ofthread.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <algorithm>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dcm_shim.h"

#define DCM_MAX_PDU	65536
#define DCM_MAX_PCS	128

static void
result_set(struct dcm_result *r, int status, const char *fmt, ...)
    __attribute__((__format__(__printf__, 3, 4)));

static void
result_set(struct dcm_result *r, int status, const char *fmt, ...)
{
	va_list	ap;

	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

/* A DIMSE status in words, for the reason field. */
static const char *
status_class(int s)
{
	if (s == 0)
		return "success";
	if (s == 0xFF00 || s == 0xFF01)
		return "pending";
	if (s == 0xFE00)
		return "cancelled";
	if (s == 0x0001 || (s & 0xF000) == 0xB000)
		return "warning";
	if (s == 0xA801)
		return "move destination unknown";
	if (s == 0x0122)
		return "SOP class not supported";
	if ((s & 0xFF00) == 0xA700)
		return "out of resources";
	if ((s & 0xFF00) == 0xA900)
		return "dataset does not match SOP class";
	if ((s & 0xF000) == 0xC000)
		return "unable to process";
	return "failure";
}

static int
status_ok(int s)
{
	return s == 0 || s == 0x0001 || (s & 0xF000) == 0xB000;
}

extern "C" int
dcm_init(int verbose, struct dcm_result *r)
{
	try {
		/* Nagle costs ~40 ms per message (dicom.md 0.3). */
		setenv("TCP_NODELAY", "1", 0);
		OFLog::configure(verbose >= 2 ? OFLogger::DEBUG_LOG_LEVEL :
		    verbose == 1 ? OFLogger::INFO_LOG_LEVEL :
		    OFLogger::ERROR_LOG_LEVEL);
		if (!dcmDataDict.isDictionaryLoaded()) {
			result_set(r, -1, "DICOM data dictionary not loaded "
			    "(libdcmtk17 installed? DCMDICTPATH?)");
			return -1;
		}
		DcmRLEDecoderRegistration::registerCodecs();
		DJDecoderRegistration::registerCodecs();
		DJLSDecoderRegistration::registerCodecs();
		dcmDisableGethostbyaddr.set(OFTrue);
	} catch (...) {
		result_set(r, -1, "DCMTK initialisation failed");
		return -1;
	}
	return 0;
}

extern "C" void
dcm_cleanup(void)
{
	try {
		DJLSDecoderRegistration::cleanup();
		DJDecoderRegistration::cleanup();
		DcmRLEDecoderRegistration::cleanup();
		OFStandard::shutdownNetwork();
	} catch (...) {
	}
}

/* --- SCU -------------------------------------------------------------- */

static void
scu_setup(DcmSCU &scu, const struct dcm_assoc *a)
{
	scu.setAETitle(a->our_ae);
	scu.setPeerAETitle(a->peer_ae);
	scu.setPeerHostName(a->host);
	scu.setPeerPort((Uint16)a->port);
	scu.setConnectionTimeout(a->connect_timeout);
	scu.setACSETimeout((Uint32)a->acse_timeout);
	scu.setDIMSETimeout((Uint32)a->dimse_timeout);
	scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
	scu.setMaxReceivePDULength(DCM_MAX_PDU);
}

static OFList<OFString>
ts_uncompressed(void)
{
	OFList<OFString> ts;

	ts.push_back(UID_LittleEndianExplicitTransferSyntax);
	ts.push_back(UID_LittleEndianImplicitTransferSyntax);
	return ts;
}

/* initNetwork + negotiateAssociation, with a reason on failure. */
static int
scu_connect(DcmSCU &scu, const struct dcm_assoc *a, struct dcm_result *r)
{
	OFCondition c;

	if ((c = scu.initNetwork()).bad()) {
		result_set(r, -1, "network initialisation: %s", c.text());
		return -1;
	}
	if ((c = scu.negotiateAssociation()).bad()) {
		if (c == DUL_ASSOCIATIONREJECTED)
			result_set(r, -1, "association rejected by %s",
			    a->peer_ae);
		else
			result_set(r, -1, "association with %s at %s:%d: %s",
			    a->peer_ae, a->host, a->port, c.text());
		return -1;
	}
	return 0;
}

static void
scu_close(DcmSCU &scu, int abort)
{
	if (!scu.isConnected())
		return;
	if (abort)
		scu.abortAssociation();
	else
		scu.releaseAssociation();
}

extern "C" int
dcm_echo(const struct dcm_assoc *a, struct dcm_result *r)
{
	try {
		DcmSCU		scu;
		OFCondition	c;

		scu_setup(scu, a);
		scu.addPresentationContext(UID_VerificationSOPClass,
		    ts_uncompressed());
		if (scu_connect(scu, a, r) == -1)
			return DCM_ERROR;
		if ((c = scu.sendECHORequest(0)).bad()) {
			result_set(r, -1, "C-ECHO: %s", c.text());
			scu_close(scu, 1);
			return DCM_ERROR;
		}
		scu_close(scu, 0);
		result_set(r, 0, "success");
		return DCM_OK;
	} catch (...) {
		result_set(r, -1, "C-ECHO: internal error");
		return DCM_ERROR;
	}
}

/* Streams C-FIND and C-MOVE responses to the caller as they arrive. */
class ShimSCU : public DcmSCU {
public:
	dcm_study_cb	 study_cb = NULL;
	dcm_move_cb	 move_cb = NULL;
	void		*arg = NULL;
	int		 last_status = -1;
	struct dcm_move_counts counts = { -1, -1, 0, 0, 0 };

	OFCondition
	handleFINDResponse(const T_ASC_PresentationContextID presID,
	    QRResponse *rsp, OFBool &more) override
	{
		last_status = rsp->m_status;
		if (rsp->m_dataset != NULL && DICOM_PENDING_STATUS(
		    rsp->m_status) && study_cb != NULL)
			emit_study(rsp->m_dataset);
		return DcmSCU::handleFINDResponse(presID, rsp, more);
	}

	OFCondition
	handleMOVEResponse(const T_ASC_PresentationContextID presID,
	    RetrieveResponse *rsp, OFBool &more) override
	{
		last_status = rsp->m_status;
		counts.status = rsp->m_status;
		counts.remaining = rsp->m_numberOfRemainingSubops;
		counts.completed = rsp->m_numberOfCompletedSubops;
		counts.failed = rsp->m_numberOfFailedSubops;
		counts.warning = rsp->m_numberOfWarningSubops;
		if (move_cb != NULL)
			move_cb(arg, &counts);
		return DcmSCU::handleMOVEResponse(presID, rsp, more);
	}

private:
	static const char *
	get(DcmDataset *ds, const DcmTagKey &key, OFString &v)
	{
		if (ds->findAndGetOFStringArray(key, v).bad())
			return NULL;
		/* Strip the padding some SCPs leave (dicom.md 1.4). */
		size_t e = v.find_last_not_of(' ');
		if (e == OFString_npos)
			return NULL;
		v.erase(e + 1);
		size_t b = v.find_first_not_of(' ');
		v.erase(0, b);
		return v.c_str();
	}

	void
	emit_study(DcmDataset *ds)
	{
		OFString	 v[10];
		struct dcm_study st;

		st.study_uid = get(ds, DCM_StudyInstanceUID, v[0]);
		st.accession = get(ds, DCM_AccessionNumber, v[1]);
		st.patient_id = get(ds, DCM_PatientID, v[2]);
		st.patient_name = get(ds, DCM_PatientName, v[3]);
		st.study_date = get(ds, DCM_StudyDate, v[4]);
		st.study_time = get(ds, DCM_StudyTime, v[5]);
		st.modalities = get(ds, DCM_ModalitiesInStudy, v[6]);
		st.instances = get(ds, DCM_NumberOfStudyRelatedInstances,
		    v[7]);
		st.series = get(ds, DCM_NumberOfStudyRelatedSeries, v[8]);
		st.description = get(ds, DCM_StudyDescription, v[9]);
		study_cb(arg, &st);
	}
};

extern "C" int
dcm_find(const struct dcm_assoc *a, const struct dcm_find_keys *k,
    dcm_study_cb cb, void *arg, struct dcm_result *r)
{
	try {
		ShimSCU		scu;
		DcmDataset	q;
		OFCondition	c;
		T_ASC_PresentationContextID pc;
		const char	*as = UID_FINDStudyRootQueryRetrieveInformationModel;

		scu_setup(scu, a);
		scu.study_cb = cb;
		scu.arg = arg;
		scu.addPresentationContext(as, ts_uncompressed());
		q.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
		q.putAndInsertString(DCM_StudyInstanceUID,
		    k->study_uid ? k->study_uid : "");
		q.putAndInsertString(DCM_AccessionNumber,
		    k->accession ? k->accession : "");
		q.putAndInsertString(DCM_PatientID,
		    k->patient_id ? k->patient_id : "");
		q.putAndInsertString(DCM_PatientName, "");
		q.putAndInsertString(DCM_StudyDate, "");
		q.putAndInsertString(DCM_StudyTime, "");
		q.putAndInsertString(DCM_ModalitiesInStudy, "");
		q.putAndInsertString(DCM_NumberOfStudyRelatedInstances, "");
		q.putAndInsertString(DCM_NumberOfStudyRelatedSeries, "");
		q.putAndInsertString(DCM_StudyDescription, "");
		if (scu_connect(scu, a, r) == -1)
			return DCM_ERROR;
		if ((pc = scu.findAnyPresentationContextID(as,
		    UID_LittleEndianExplicitTransferSyntax)) == 0) {
			result_set(r, -1, "%s refused Study Root C-FIND",
			    a->peer_ae);
			scu_close(scu, 1);
			return DCM_ERROR;
		}
		if ((c = scu.sendFINDRequest(pc, &q, NULL)).bad()) {
			result_set(r, scu.last_status, "C-FIND: %s", c.text());
			scu_close(scu, 1);
			return DCM_ERROR;
		}
		scu_close(scu, 0);
		result_set(r, scu.last_status, "%s",
		    status_class(scu.last_status));
		return status_ok(scu.last_status) ? DCM_OK : DCM_FAILED;
	} catch (...) {
		result_set(r, -1, "C-FIND: internal error");
		return DCM_ERROR;
	}
}

extern "C" int
dcm_move(const struct dcm_assoc *a, const char *dest,
    const char *study_uid, dcm_move_cb cb, void *arg,
    struct dcm_move_counts *final, struct dcm_result *r)
{
	try {
		ShimSCU		scu;
		DcmDataset	q;
		OFCondition	c;
		T_ASC_PresentationContextID pc;
		const char	*as = UID_MOVEStudyRootQueryRetrieveInformationModel;

		scu_setup(scu, a);
		scu.move_cb = cb;
		scu.arg = arg;
		scu.addPresentationContext(as, ts_uncompressed());
		q.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
		q.putAndInsertString(DCM_StudyInstanceUID, study_uid);
		if (scu_connect(scu, a, r) == -1)
			return DCM_ERROR;
		if ((pc = scu.findAnyPresentationContextID(as,
		    UID_LittleEndianExplicitTransferSyntax)) == 0) {
			result_set(r, -1, "%s refused Study Root C-MOVE",
			    a->peer_ae);
			scu_close(scu, 1);
			return DCM_ERROR;
		}
		c = scu.sendMOVERequest(pc, dest, &q, NULL);
		*final = scu.counts;
		if (c.bad()) {
			result_set(r, scu.last_status, "C-MOVE: %s", c.text());
			scu_close(scu, 1);
			return DCM_ERROR;
		}
		scu_close(scu, 0);
		if (scu.last_status == 0 && scu.counts.failed == 0) {
			result_set(r, 0, "success");
			return DCM_OK;
		}
		result_set(r, scu.last_status, "%s, %d failed, %d warning",
		    status_class(scu.last_status), scu.counts.failed,
		    scu.counts.warning);
		return DCM_FAILED;
	} catch (...) {
		result_set(r, -1, "C-MOVE: internal error");
		return DCM_ERROR;
	}
}

/* What a file to send says about itself (its meta header). */
struct sendfile {
	const char	*path;
	OFString	 sop_class, sop_instance, ts;
	OFString	 sent_ts;	/* when converted */
	int		 readable;
	OFString	 why;
};

static void
sendfile_read(struct sendfile *f)
{
	DcmFileFormat	ff;
	DcmMetaInfo	*m;
	OFCondition	c;

	f->readable = 0;
	c = ff.loadFile(f->path, EXS_Unknown, EGL_noChange, 0,
	    ERM_fileOnly);
	if (c.bad()) {
		f->why = OFString("unreadable file: ") + c.text();
		return;
	}
	m = ff.getMetaInfo();
	if (m->findAndGetOFString(DCM_MediaStorageSOPClassUID,
	    f->sop_class).bad() || f->sop_class.empty() ||
	    m->findAndGetOFString(DCM_MediaStorageSOPInstanceUID,
	    f->sop_instance).bad() || f->sop_instance.empty() ||
	    m->findAndGetOFString(DCM_TransferSyntaxUID, f->ts).bad() ||
	    f->ts.empty()) {
		f->why = "meta header lacks SOP class, instance or syntax";
		return;
	}
	f->readable = 1;
}

/*
 * The presentation contexts of files [from, to): one per (class, syntax)
 * actually present with only that syntax, and one uncompressed per class
 * to fall back to (dicom.md 0.5). Returns the end of the batch that fits.
 */
static size_t
store_plan(DcmSCU &scu, struct sendfile *files, size_t from, size_t n)
{
	OFList<OFString>	pairs, classes;
	size_t			i, npcs = 0;

	for (i = from; i < n; i++) {
		struct sendfile	*f = &files[i];
		OFString	 pair;
		int		 newpair, newclass, need;

		if (!f->readable)
			continue;
		pair = f->sop_class + "|" + f->ts;
		newpair = std::find(pairs.begin(), pairs.end(), pair) ==
		    pairs.end();
		newclass = std::find(classes.begin(), classes.end(),
		    f->sop_class) == classes.end();
		need = newpair + newclass;
		if (npcs + (size_t)need > DCM_MAX_PCS && i > from)
			break;
		if (newpair) {
			OFList<OFString> one;

			one.push_back(f->ts);
			scu.addPresentationContext(f->sop_class, one);
			pairs.push_back(pair);
		}
		if (newclass) {
			scu.addPresentationContext(f->sop_class,
			    ts_uncompressed());
			classes.push_back(f->sop_class);
		}
		npcs += (size_t)need;
	}
	return i;
}

/* Reconciliation (dcm_store_rewrite): the local values, or empty. */
static OFString rewrite_pid, rewrite_acc;

extern "C" void
dcm_store_rewrite(const char *patient_id, const char *accession)
{
	rewrite_pid = patient_id != NULL ? patient_id : "";
	rewrite_acc = accession != NULL ? accession : "";
}

/*
 * The sender's values of what rewrite_ids replaces, as the SOP Common
 * Module records a coercion (PS3.3 C.12.1, IHE Import Reconciliation
 * Workflow): an item of Original Attributes Sequence, reason COERCE, whose
 * Modified Attributes Sequence holds the old values. The receiving site
 * can trace an instance back to the sender's patient and order.
 */
static OFCondition
rewrite_record(DcmDataset *ds, const OFString &pid, const OFString &issuer,
    const OFString &acc)
{
	DcmItem		*orig = NULL, *mod = NULL;
	OFCondition	 c;
	char		 now[16];
	time_t		 t = time(NULL);
	struct tm	 tm;

	strftime(now, sizeof(now), "%Y%m%d%H%M%S", localtime_r(&t, &tm));
	c = ds->findOrCreateSequenceItem(DCM_OriginalAttributesSequence, orig,
	    -2);
	if (c.good())
		c = orig->findOrCreateSequenceItem(
		    DCM_ModifiedAttributesSequence, mod, -2);
	if (c.good() && !pid.empty())
		c = mod->putAndInsertString(DCM_PatientID, pid.c_str());
	if (c.good() && !issuer.empty())
		c = mod->putAndInsertString(DCM_IssuerOfPatientID,
		    issuer.c_str());
	if (c.good() && !acc.empty())
		c = mod->putAndInsertString(DCM_AccessionNumber, acc.c_str());
	if (c.good())
		c = orig->putAndInsertString(DCM_SourceOfPreviousValues, "");
	if (c.good())
		c = orig->putAndInsertString(DCM_AttributeModificationDateTime,
		    now);
	if (c.good())
		c = orig->putAndInsertString(DCM_ModifyingSystem, "isn-edge");
	if (c.good())
		c = orig->putAndInsertString(
		    DCM_ReasonForTheAttributeModification, "COERCE");
	return c;
}

/*
 * The local patient ID and accession replace the sender's; the sender's
 * patient ID (and its issuer) is kept as an item of Other Patient IDs
 * Sequence, where a PACS's patient search finds it, and the old values
 * of all three in Original Attributes Sequence (rewrite_record). Nothing
 * else changes: pixel data and UIDs stay as they are.
 */
static OFCondition
rewrite_ids(DcmDataset *ds)
{
	OFString	 old, issuer, acc, was_pid, was_acc;
	DcmItem		*item = NULL;
	OFCondition	 c = EC_Normal;

	ds->findAndGetOFString(DCM_PatientID, old);
	ds->findAndGetOFString(DCM_IssuerOfPatientID, issuer);
	ds->findAndGetOFString(DCM_AccessionNumber, acc);
	if (!rewrite_pid.empty()) {
		if (!old.empty() && old != rewrite_pid) {
			was_pid = old;
			c = ds->findOrCreateSequenceItem(
			    DCM_OtherPatientIDsSequence, item, -2);
			if (c.good())
				c = item->putAndInsertString(DCM_PatientID,
				    old.c_str());
			if (c.good() && !issuer.empty())
				c = item->putAndInsertString(
				    DCM_IssuerOfPatientID, issuer.c_str());
			if (c.good())
				c = item->putAndInsertString(
				    DCM_TypeOfPatientID, "TEXT");
		}
		/* The issuer named the sender's ID space, not ours. */
		ds->findAndDeleteElement(DCM_IssuerOfPatientID);
		if (c.good())
			c = ds->putAndInsertString(DCM_PatientID,
			    rewrite_pid.c_str());
	} else
		issuer.clear();		/* kept in place */
	if (c.good() && !rewrite_acc.empty()) {
		if (acc != rewrite_acc)
			was_acc = acc;
		c = ds->putAndInsertString(DCM_AccessionNumber,
		    rewrite_acc.c_str());
	}
	if (c.good() && (!was_pid.empty() || !was_acc.empty() ||
	    !issuer.empty()))
		c = rewrite_record(ds, was_pid, issuer, was_acc);
	return c;
}

/* Sends one file on the open association; fills s. */
static OFCondition
store_one(DcmSCU &scu, struct sendfile *f, struct dcm_sent *s,
    OFString &reason)
{
	T_ASC_PresentationContextID	pc;
	Uint16				rsp = 0;
	OFCondition			c;
	OFString			accepted;
	int				rewrite = !rewrite_pid.empty() ||
					    !rewrite_acc.empty();

	pc = scu.findPresentationContextID(f->sop_class, f->ts);
	if (pc != 0 && !rewrite) {
		s->sent_ts = f->ts.c_str();
		c = scu.sendSTORERequest(pc, f->path, NULL, rsp);
	} else {
		DcmFileFormat	ff;
		E_TransferSyntax to;

		accepted = f->ts;
		if (pc == 0) {
			/* Refused the original syntax: decompress, if we
			 * can. */
			accepted = UID_LittleEndianExplicitTransferSyntax;
			if ((pc = scu.findPresentationContextID(f->sop_class,
			    accepted)) == 0) {
				accepted =
				    UID_LittleEndianImplicitTransferSyntax;
				pc = scu.findPresentationContextID(
				    f->sop_class, accepted);
			}
		}
		if (pc == 0) {
			reason = "SOP class refused by the peer";
			return EC_Normal;
		}
		if ((c = ff.loadFile(f->path)).bad()) {
			reason = OFString("unreadable file: ") + c.text();
			return EC_Normal;
		}
		if (rewrite && rewrite_ids(ff.getDataset()).bad()) {
			reason = "cannot set the local patient ID or accession";
			return EC_Normal;
		}
		to = DcmXfer(accepted.c_str()).getXfer();
		c = ff.getDataset()->chooseRepresentation(to, NULL);
		if (c.bad() || !ff.getDataset()->canWriteXfer(to)) {
			reason = "peer refused the file's transfer syntax and "
			    "no codec converts it";
			return EC_Normal;
		}
		f->sent_ts = accepted;
		s->sent_ts = f->sent_ts.c_str();
		c = scu.sendSTORERequest(pc, "", ff.getDataset(), rsp);
	}
	if (c.good()) {
		s->status = rsp;
		if (!status_ok(rsp))
			reason = status_class(rsp);
	} else
		reason = OFString("C-STORE: ") + c.text();
	return c;
}

extern "C" int
dcm_store(const struct dcm_assoc *a, const char *const *paths,
    size_t n, dcm_sent_cb cb, void *arg, struct dcm_result *r)
{
	struct sendfile	*files = NULL;
	size_t		 i, done = 0, nok = 0, nsent = 0;
	int		 noassoc = 0;

	try {
		files = new struct sendfile[n];
		for (i = 0; i < n; i++) {
			files[i].path = paths[i];
			sendfile_read(&files[i]);
		}
		result_set(r, -1, "nothing sent");
		while (done < n) {
			DcmSCU		 scu;
			size_t		 end;
			struct dcm_result ar;

			scu_setup(scu, a);
			scu.setDatasetConversionMode(OFTrue);
			end = store_plan(scu, files, done, n);
			for (i = done; i < end && !files[i].readable; i++)
				;
			/* Only unreadable files: no association needed. */
			if (i < end && scu_connect(scu, a, &ar) == -1) {
				/* No association: the rest fails alike. */
				noassoc = 1;
				*r = ar;
				end = n;
			}
			for (i = done; i < end; i++) {
				struct sendfile	*f = &files[i];
				struct dcm_sent	 s;
				OFString	 reason;
				OFCondition	 c = EC_Normal;

				memset(&s, 0, sizeof(s));
				s.path = f->path;
				s.status = -1;
				if (f->readable) {
					s.sop_class = f->sop_class.c_str();
					s.sop_instance = f->sop_instance.c_str();
					s.ts = f->ts.c_str();
				}
				if (!f->readable)
					reason = f->why;
				else if (noassoc)
					reason = ar.reason;
				else if (!scu.isConnected())
					reason = "association lost";
				else {
					c = store_one(scu, f, &s, reason);
					nsent++;
				}
				s.reason = reason.empty() ? NULL :
				    reason.c_str();
				if (s.reason == NULL)
					nok++;
				else
					r->status = s.status;
				cb(arg, &s);
				/* A broken association ends the batch. */
				if (c.bad()) {
					scu_close(scu, 1);
					i++;
					break;
				}
			}
			done = i;
			scu_close(scu, 0);
		}
		delete[] files;
	} catch (...) {
		delete[] files;
		result_set(r, -1, "C-STORE: internal error");
		return DCM_ERROR;
	}
	if (nok == n) {
		result_set(r, 0, "%zu stored", n);
		return DCM_OK;
	}
	if (noassoc && nsent == 0)
		return DCM_ERROR;
	result_set(r, r->status, "%zu of %zu files failed", n - nok, n);
	return DCM_FAILED;
}

/* --- SCP -------------------------------------------------------------- */

static const struct dcm_scp_conf *scp_conf;
static dcm_stored_cb scp_cb;
static void *scp_arg;
static OFMutex scp_mutex;
static unsigned long scp_seq;

static int
uid_ok(const OFString &u)
{
	size_t	i;

	if (u.empty() || u.size() > 64 || u[0] == '.' ||
	    u[u.size() - 1] == '.')
		return 0;
	for (i = 0; i < u.size(); i++) {
		if (u[i] == '.' ? u[i + 1] == '.' : (u[i] < '0' || u[i] > '9'))
			return 0;
	}
	return 1;
}

static int
fsync_path(const char *path, int dir)
{
	int	fd, rv;

	if ((fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) |
	    O_CLOEXEC)) == -1)
		return -1;
	rv = fsync(fd);
	close(fd);
	return rv;
}

/*
 * The network transfer syntax is kept. The acceptor picks from this list
 * in order: uncompressed first, because a sender that offers a compressed
 * syntax beside uncompressed in one context may be unable to encode it
 * (dcmqrscp -xs fails with a702); a compressed file comes in its own
 * context (dicom.md 0.5) and is accepted as is. Lossless before lossy.
 */
static const char *scp_syntaxes[] = {
	UID_LittleEndianExplicitTransferSyntax,
	UID_LittleEndianImplicitTransferSyntax,
	UID_BigEndianExplicitTransferSyntax,
	UID_DeflatedExplicitVRLittleEndianTransferSyntax,
	UID_JPEG2000LosslessOnlyTransferSyntax,
	UID_JPEGLSLosslessTransferSyntax,
	UID_JPEGProcess14SV1TransferSyntax,
	UID_JPEGProcess14TransferSyntax,
	UID_RLELosslessTransferSyntax,
	UID_JPEGProcess1TransferSyntax,
	UID_JPEGProcess2_4TransferSyntax,
	UID_JPEGLSLossyTransferSyntax,
	UID_JPEG2000TransferSyntax,
	UID_MPEG2MainProfileAtMainLevelTransferSyntax,
	UID_MPEG2MainProfileAtHighLevelTransferSyntax,
	UID_MPEG4HighProfileLevel4_1TransferSyntax,
	UID_MPEG4BDcompatibleHighProfileLevel4_1TransferSyntax,
	UID_HEVCMainProfileLevel5_1TransferSyntax,
	UID_HEVCMain10ProfileLevel5_1TransferSyntax,
};

class SpoolSCP : public DcmThreadSCP {
public:
	OFBool
	checkCalledAETitleAccepted(const OFString &called) override
	{
		return called == scp_conf->ae;
	}

	OFCondition
	handleIncomingCommand(T_DIMSE_Message *msg,
	    const DcmPresentationContextInfo &info) override
	{
		if (msg->CommandField != DIMSE_C_STORE_RQ)
			return DcmThreadSCP::handleIncomingCommand(msg, info);
		return store(msg->msg.CStoreRQ, info.presentationContextID);
	}

private:
	OFCondition
	store(T_DIMSE_C_StoreRQ &req, T_ASC_PresentationContextID pc)
	{
		char		 tmp[4096];
		OFString	 dir, final;
		struct dcm_stored st;
		OFString	 study, series, sop, cls, ts, why;
		OFCondition	 c;
		Uint16		 status = 0;
		struct stat	 sb;
		unsigned long	 seq;

		scp_mutex.lock();
		seq = ++scp_seq;
		scp_mutex.unlock();
		snprintf(tmp, sizeof(tmp), "%s/.incoming/%ld-%lu.part",
		    scp_conf->spool, (long)getpid(), seq);
		memset(&st, 0, sizeof(st));
		c = receiveSTORERequest(req, pc, OFString(tmp));
		if (c.bad()) {
			unlink(tmp);
			/* Local failure with the stream intact: say so. */
			if (c == DIMSE_RECEIVEFAILED || isConnected() == OFFalse)
				return c;
			status = STATUS_STORE_Refused_OutOfResources;
			why = OFString("receive: ") + c.text();
		} else {
			DcmFileFormat	 ff;

			if (ff.loadFile(tmp, EXS_Unknown, EGL_noChange, 256).bad()) {
				status = STATUS_STORE_Error_CannotUnderstand;
				why = "received file unreadable";
			} else {
				ff.getMetaInfo()->findAndGetOFString(
				    DCM_TransferSyntaxUID, ts);
				ff.getDataset()->findAndGetOFString(
				    DCM_StudyInstanceUID, study);
				ff.getDataset()->findAndGetOFString(
				    DCM_SeriesInstanceUID, series);
				ff.getDataset()->findAndGetOFString(
				    DCM_SOPInstanceUID, sop);
				ff.getDataset()->findAndGetOFString(
				    DCM_SOPClassUID, cls);
			}
			if (status != 0)
				;
			else if (!uid_ok(study) || !uid_ok(sop) ||
			    sop != req.AffectedSOPInstanceUID) {
				status = STATUS_STORE_Error_DataSetDoesNotMatchSOPClass;
				why = "missing or invalid study or SOP "
				    "instance UID";
			} else {
				dir = OFString(scp_conf->spool) + "/" + study;
				final = dir + "/" + sop + ".dcm";
				if (scp_conf->fsync && fsync_path(tmp, 0) == -1)
					why = OFString("fsync: ") +
					    strerror(errno);
				else if (mkdir(dir.c_str(), 0750) == -1 &&
				    errno != EEXIST)
					why = OFString("mkdir: ") +
					    strerror(errno);
				else if (rename(tmp, final.c_str()) == -1)
					why = OFString("rename: ") +
					    strerror(errno);
				else if (scp_conf->fsync &&
				    fsync_path(dir.c_str(), 1) == -1)
					why = OFString("fsync: ") +
					    strerror(errno);
				if (!why.empty())
					status =
					    STATUS_STORE_Refused_OutOfResources;
			}
			if (status != 0)
				unlink(tmp);
		}
		if (status == 0) {
			st.path = final.c_str();
			if (stat(final.c_str(), &sb) == 0)
				st.size = (long long)sb.st_size;
		}
		st.study_uid = study.empty() ? NULL : study.c_str();
		st.series_uid = series.empty() ? NULL : series.c_str();
		st.sop_instance = req.AffectedSOPInstanceUID;
		st.sop_class = req.AffectedSOPClassUID;
		st.ts = ts.empty() ? NULL : ts.c_str();
		OFString calling = getPeerAETitle();
		st.calling_ae = calling.c_str();
		st.status = status;
		st.reason = why.empty() ? NULL : why.c_str();
		scp_cb(scp_arg, &st);
		return sendSTOREResponse(pc, req, status);
	}
};

class SpoolPool : public DcmSCPPool<SpoolSCP> {
};

class PoolThread : public OFThread {
public:
	SpoolPool	*pool;
	OFCondition	 result;
	volatile int	 finished = 0;

protected:
	void
	run() override
	{
		result = pool->listen();
		finished = 1;
	}
};

/* Probes the port: 1 when someone listens on it (bind fails). */
static int
port_listening(int port)
{
	struct sockaddr_in	sin;
	int			fd, one = 1, rv;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	rv = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno == EADDRINUSE;
	close(fd);
	return rv;
}

/* Removes what a killed predecessor left half-received. */
static void
clean_incoming(const char *dir)
{
	DIR		*dp;
	struct dirent	*de;
	size_t		 l;
	OFString	 path;

	if ((dp = opendir(dir)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		l = strlen(de->d_name);
		if (l > 5 && strcmp(de->d_name + l - 5, ".part") == 0) {
			path = OFString(dir) + "/" + de->d_name;
			unlink(path.c_str());
		}
	}
	closedir(dp);
}

extern "C" int
dcm_scp(const struct dcm_scp_conf *conf, dcm_stored_cb cb,
    dcm_ready_cb ready, void *arg, volatile sig_atomic_t *stop,
    struct dcm_result *r)
{
	char			 inc[4096];
	struct timespec		 ts = { 0, 20 * 1000 * 1000 };
	int			 i, announced = 0;
	/*
	 * The daemon that started us: when it is gone (its parent-death
	 * signal can miss, e.g. through a wrapper between us), nobody reads
	 * what we store and we would hold its port: stop. 1: no watch.
	 */
	pid_t			 parent = getppid();

	scp_conf = conf;
	scp_cb = cb;
	scp_arg = arg;
	snprintf(inc, sizeof(inc), "%s/.incoming", conf->spool);
	if (mkdir(inc, 0750) == -1 && errno != EEXIST) {
		result_set(r, -1, "spool %s: %s", inc, strerror(errno));
		return DCM_ERROR;
	}
	clean_incoming(inc);
	if (port_listening(conf->port)) {
		result_set(r, -1, "port %d is in use", conf->port);
		return DCM_ERROR;
	}
	try {
		SpoolPool		 pool;
		PoolThread		 t;
		OFList<OFString>	 tsl, ver;
		DcmSCPConfig		&cfg = pool.getConfig();

		for (i = 0; i < (int)(sizeof(scp_syntaxes) /
		    sizeof(scp_syntaxes[0])); i++)
			tsl.push_back(scp_syntaxes[i]);
		ver = ts_uncompressed();
		cfg.setAETitle(conf->ae);
		cfg.setPort((Uint16)conf->port);
		cfg.setMaxReceivePDULength(DCM_MAX_PDU);
		cfg.setACSETimeout((Uint32)conf->acse_timeout);
		cfg.setDIMSETimeout((Uint32)conf->dimse_timeout);
		cfg.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
		/* listen() returns to check for stop once a second. */
		cfg.setConnectionBlockingMode(DUL_NOBLOCK);
		cfg.setConnectionTimeout(1);
		cfg.setHostLookupEnabled(OFFalse);
		cfg.addPresentationContext(UID_VerificationSOPClass, ver);
		for (i = 0; i < numberOfDcmAllStorageSOPClassUIDs; i++)
			cfg.addPresentationContext(dcmAllStorageSOPClassUIDs[i],
			    tsl);
		pool.setMaxThreads((Uint16)conf->max_assocs);
		t.pool = &pool;
		if (t.start() != 0) {
			result_set(r, -1, "cannot start the listener thread");
			return DCM_ERROR;
		}
		while (!*stop && !t.finished &&
		    (parent == 1 || getppid() == parent)) {
			if (!announced && port_listening(conf->port)) {
				announced = 1;
				if (ready != NULL)
					ready(arg);
			}
			nanosleep(&ts, NULL);
		}
		pool.stopAfterCurrentAssociations();
		t.join();
		if (!*stop && parent != 1 && getppid() != parent) {
			result_set(r, 0, "stopped: the daemon is gone");
			return DCM_OK;
		}
		if (!*stop) {
			result_set(r, -1, "listener stopped: %s",
			    t.result.text());
			return DCM_ERROR;
		}
		result_set(r, 0, "stopped");
		return DCM_OK;
	} catch (...) {
		result_set(r, -1, "SCP: internal error");
		return DCM_ERROR;
	}
}
