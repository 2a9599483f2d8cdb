#!/usr/bin/env python3
# make-cases.py: regenerate the *.mime cases (first line: the Content-Type
# value, then the body bytes). The *.expected files are written by
# `MTOM_BLESS=1 test_mtom` and reviewed by hand.
import base64


def w(name, ct, body):
    open(name + '.mime', 'wb').write(ct.encode() + b'\n' + body)


def part(hdrs, data, eol=b'\r\n'):
    if not hdrs:
        return eol + data
    return eol.join(hdrs) + eol + eol + data


def msg(parts, b=b'b1', eol=b'\r\n', pre=b'', epi=b''):
    out = pre
    for p in parts:
        out += b'--' + b + eol + p + eol
    return out + b'--' + b + b'--' + eol + epi


CT = ('multipart/related; boundary="b1"; type="application/xop+xml"; '
      'start-info="application/soap+xml"')
root = (b'<?xml version="1.0"?>\r\n<e><xop:Include xmlns:xop="http://www.w3'
        b'.org/2004/08/xop/include" href="cid:doc1@x"/></e>')
RH = [b'Content-Type: application/xop+xml; charset=UTF-8; '
      b'type="application/soap+xml"',
      b'Content-Transfer-Encoding: binary', b'Content-ID: <root@x>']
AH = [b'Content-Type: application/pdf', b'Content-Transfer-Encoding: binary',
      b'Content-ID: <doc1@x>']
# Binary content with near-delimiters: mid-line "--b1", "--b2" and "--b"
# at line starts, and a trailing CRLF that belongs to the content.
doc = b'%PDF-1.4\r\n\x00\x01binary -- --b1 mid-line\r\n--b2\r\n\n--b\r\n'

w('ok-no-start', CT, msg([part(RH, root), part(AH, doc)]))
w('ok-start-no-brackets', CT + '; start=root@x',
  msg([part(AH, doc), part(RH, root)]))
w('ok-cid-no-brackets', CT + '; start="<root@x>"',
  msg([part([b'Content-ID: root@x', b'Content-Type: application/xop+xml'],
            root),
       part([b'Content-ID:doc1@x', b'Content-Type: text/plain'], b'hello')]))
root2 = b'<e><xop:Include href="cid:doc%3A1%40x%2Fy"/></e>'
w('ok-urlencoded-cid', CT,
  msg([part(RH, root2),
       part([b'Content-Type: text/plain', b'Content-ID: <doc:1@x/y>'],
            b'abc')]))
w('ok-missing-cte', CT,
  msg([part([RH[0], RH[2]], root), part([AH[0], AH[2]], doc)]))
w('ok-bare-lf', CT,
  msg([part(RH, root.replace(b'\r\n', b'\n'), b'\n'),
       part(AH, b'line1\nline2\n', b'\n')], eol=b'\n'))
data = bytes(range(256)) * 3 + b'tail'
w('ok-base64-part', CT,
  msg([part(RH, root),
       part([b'Content-Type: application/dicom',
             b'Content-Transfer-Encoding: BASE64', b'Content-ID: <doc1@x>'],
            base64.encodebytes(data).replace(b'\n', b'\r\n'))]))
w('ok-preamble-epilogue', CT,
  msg([part(RH, root), part(AH, doc)],
      pre=b'This is a preamble.\r\n- b1 text --b1x mid-line\r\n\r\n',
      epi=b'epilogue\r\n--b1\r\nignored\r\n'))
w('ok-padding-folding', CT,
  b'--b1 \t\r\n' +
  part([b'content-type: application/xop+xml;', b'\tcharset=UTF-8',
        b'CONTENT-TRANSFER-ENCODING: 8bit', b'content-id: <root@x>'], root) +
  b'\r\n--b1  \r\n' +
  part([b'Content-Type: text/plain', b'Content-Transfer-Encoding: 7bit',
        b'Content-ID: <doc1@x>', b'X-Other: ignored'], b'seven bit') +
  b'\r\n--b1--  trailing')
w('ok-empty-parts', CT,
  msg([part(RH, root), part([b'Content-ID: <empty@x>'], b''),
       part([b'Content-ID: <crlf@x>'], b'\r\n\r\n'),
       part([], b'no headers')]))
w('ok-wcf-style',
  'multipart/related; type="application/xop+xml"; boundary="uuid:37+id=17";'
  ' start="<http://tempuri.org/0>"; start-info="application/soap+xml"',
  b'\r\n--uuid:37+id=17\r\nContent-ID: <http://tempuri.org/0>\r\n'
  b'Content-Transfer-Encoding: 8bit\r\nContent-Type: application/xop+xml;'
  b'charset=utf-8;type="application/soap+xml"\r\n\r\n<s:Envelope/>\r\n'
  b'--uuid:37+id=17--\r\n')

w('err-no-boundary', 'multipart/related; type="application/xop+xml"',
  b'--b1\r\n\r\nx\r\n--b1--\r\n')
w('err-bad-boundary', 'multipart/related; boundary="' + 'x' * 71 + '"', b'')
w('err-boundary-char', 'multipart/related; boundary="a<b"', b'')
w('err-not-multipart', 'application/soap+xml; boundary=b1', b'')
w('err-no-parts', CT, b'just some text\r\nwithout any delimiter\r\n')
w('err-close-only', CT, b'--b1--\r\n')
w('err-missing-root', CT + '; start="<nope@x>"',
  msg([part(RH, root), part(AH, doc)]))
w('err-duplicate-cid', CT, msg([part(RH, root), part(AH, doc), part(AH, doc)]))
w('err-unterminated', CT,
  b'--b1\r\n' + part(RH, root) + b'\r\n--b1\r\n' + part(AH, doc))
w('err-unterminated-headers', CT, b'--b1\r\nContent-ID: <a>\r\n')
w('err-too-many-parts', CT,
  msg([part(RH, root), part([b'Content-ID: <a>'], b'1'),
       part([b'Content-ID: <b>'], b'2')]))
w('err-headers-too-big', CT,
  msg([part(RH + [b'X-Big: ' + b'y' * 2000], root)]))
B64H = [b'Content-ID: <a>', b'Content-Transfer-Encoding: base64']
w('err-base64-garbage', CT,
  msg([part(RH, root), part(B64H, b'SGVsbG8*d29ybGQ=')]))
w('err-base64-truncated', CT,
  msg([part(RH, root), part(B64H, b'SGVsbG8gd29ybGQ')]))
w('err-base64-after-pad', CT, msg([part(RH, root), part(B64H, b'SGk=SGk=')]))
w('err-quoted-printable', CT,
  msg([part(RH, root),
       part([b'Content-ID: <a>',
             b'Content-Transfer-Encoding: quoted-printable'], b'a=3Db')]))
w('err-unknown-cte', CT,
  msg([part(RH, root),
       part([b'Content-ID: <a>', b'Content-Transfer-Encoding: x-gzip'],
            b'ab')]))
w('err-text-after-delimiter', CT,
  b'--b1\r\n' + part(RH, root) + b'\r\n--b1x\r\n' + part(AH, doc) +
  b'\r\n--b1--\r\n')
w('err-root-too-big', CT, msg([part(RH, root)]))
w('err-part-too-big', CT, msg([part(RH, root), part(AH, doc)]))
w('err-duplicate-header', CT,
  msg([part(RH + [b'Content-Type: text/plain'], root)]))
w('err-malformed-header', CT, msg([part([b'Content-ID <a>'], root)]))
w('err-empty-cid', CT, msg([part([b'Content-ID: <>'], root)]))
w('err-empty-start', CT + '; start="<>"', b'')
w('err-cr-in-header', CT, msg([part([b'Content-ID: <a\rb>'], root)]))
w('err-folded-first-line', CT, msg([part([b' Content-ID: <a>'], root)]))
