"""Certificates of civil improbity convictions with final judgment (Res. Conjunta 6/2020 art. 9 II; issue 15).

- :mod:`~gateway.certidoes.domain` — pure: the verification code, what a certificate states (:class:`Content`);
- :mod:`~gateway.certidoes.documents` — the PDF (fpdf2, QR code by ``qrcode``) signed PAdES (pyHanko) and the XML
  signed XML-DSig (signxml), with the key from the settings;
- :mod:`~gateway.certidoes.service` — issue (rate-limited, audited, one transaction), verify by code, check a file.
"""
